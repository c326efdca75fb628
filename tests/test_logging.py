"""Logs never carry emails, secrets or card numbers: structlog events and the standard-library records
of the Temporal SDK alike, on a real order run and on refused input."""

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from temporalio.testing import WorkflowEnvironment

from models.contract import ShipmentDispatched, ShippedLine
from o2c.platform.log import configure_logging, redact
from tests.harness import eventually, running_worker, start
from tests.support import Database, sample_order

EMAIL = "grace.hopper@navy.example"
CARD = "4000 0000 0000 0341"
SECRETS = ["sk_live_51Habcdef0123456789", "whsec_abc123DEF", "SG.aaaa.bbbb-cccc", "Bearer opaque-token.123"]


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """JSON logs as the worker writes them, into a buffer the test reads."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers.clear()  # basicConfig only configures a root without handlers
    buffer = io.StringIO()
    configure_logging("INFO", "json", buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_redaction_rules() -> None:
    line = f"customer {EMAIL} paid with {CARD} / 4000000000000341; keys {' '.join(SECRETS)}"
    masked = redact(line)
    assert "g***@navy.example" in masked
    for clear in [EMAIL, CARD, "4000000000000341", *SECRETS]:
        assert clear not in masked
    assert (
        redact("order A-1 for 49.48 USD, invoice INV-2026-000123") == "order A-1 for 49.48 USD, invoice INV-2026-000123"
    )


async def test_an_order_run_logs_no_customer_data(
    time_env: WorkflowEnvironment,
    sqlite_db: Database,
    task_queue: str,
    json_logs: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    order = sample_order(customer={"id": "C-LOG", "name": "Grace Hopper", "email": EMAIL})
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        handle = await start(time_env.client, order, task_queue)
        lines = [ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)]
        await handle.signal(
            "shipment_dispatched",
            ShipmentDispatched(
                shipment_id="S1", lines=lines, carrier="UPS", tracking_number="1Z", dispatched_at=datetime.now(UTC)
            ),
        )
        # Refused input quoting card data and a secret: the SDK's and our warnings must mask it.
        await handle.signal("payment_received", {"payment_id": "X", "amount": CARD, "reference": SECRETS[0]})
        await eventually(
            handle, lambda s: bool(s.invoices and mail.sent) and any(e.refused for e in s.timeline), "invoice emailed"
        )
        logging.getLogger("temporalio.workflow").warning("quoting %s and %s", EMAIL, SECRETS[1])
        structlog.get_logger("o2c.test").info("structured", customer=EMAIL, card=CARD, key=SECRETS[2])
        await handle.terminate("test done")
    logs = json_logs.getvalue()
    assert mail.sent and mail.sent[0]["personalizations"][0]["to"][0]["email"] == EMAIL  # the email did go out
    json_events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert len(json_events) >= 5, "the run logged through structlog"
    assert "g***@navy.example" in logs
    for clear in [EMAIL, CARD, "4000000000000341", *SECRETS]:
        assert clear not in logs, f"{clear!r} reached the logs"


def test_the_stripe_sdks_request_lines_stay_out(json_logs: io.StringIO) -> None:
    """The SDK logs each request's URL at INFO; a customer list query carries the customer's email."""
    logging.getLogger("stripe").info("Request to Stripe api url=/v1/customers?email=ap%40example.com")
    logging.getLogger("stripe").warning("Stripe API retry")
    assert "customers?email" not in json_logs.getvalue()
    assert "Stripe API retry" in json_logs.getvalue()
