"""Faults between us and SendGrid: the real SDK through a fault-injecting proxy in front of the sink.
Refusals, 429 with Retry-After, 500s, lost and late answers: one email arrives, whatever happened on the
way. With retries capped by configuration the order goes on and says which email failed."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from python_http_client.exceptions import HTTPError
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities, sendgrid_client
from activities.invoicing import InvoicingActivities
from models.activity_io import EmailKind, IssueInvoice, SendEmail
from models.contract import OrderStatus, ShipmentDispatched, ShippedLine
from models.policy import OrderPolicy
from models.tables import AuditEntry, EmailOutbox
from o2c.devtools.sendgrid_sink import create_app as sink_app
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from tests.faultproxy import (
    ERROR_500_AFTER,
    ERROR_500_BEFORE,
    RESET_AFTER,
    RESET_BEFORE,
    SLOW_AFTER,
    TOO_MANY,
    FaultProxy,
)
from tests.harness import eventually, running_worker, start
from tests.seed import add_customer, add_shipped_order
from tests.support import BackgroundServer, Database, free_port, sample_order


async def test_one_email_arrives_through_every_kind_of_fault(database: Database, tmp_path: Path) -> None:
    add_customer(database, limit_minor=None)
    add_shipped_order(database, "O1", [("WIDGET", 1, "10.00", "0")])
    sink_port = free_port()
    base = Settings(database_url=database.url)
    invoice = ActivityEnvironment().run(
        InvoicingActivities(database.engine, base).issue_invoice,
        IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=datetime.now(UTC).date()),
    )
    # Per email at most one fault after SendGrid took it: the attempts after it find the email by its key.
    scripts = {
        "O1:invoice": [ERROR_500_BEFORE, TOO_MANY, RESET_BEFORE, SLOW_AFTER],
        "O1:invoice-copy-1": [ERROR_500_AFTER],
        "O1:invoice-copy-2": [RESET_AFTER],
    }
    retry_delays: list[timedelta | None] = []
    outcomes = []
    async with BackgroundServer(sink_app(tmp_path / "mail"), sink_port), httpx.AsyncClient() as http:
        with FaultProxy(sink_port, [], lambda method, path: path.startswith("/v3/mail/send")) as proxy:
            settings = base.model_copy(update={"sendgrid_host": proxy.url, "sendgrid_timeout_seconds": 1.0})
            email = EmailActivities(database.engine, settings, sendgrid_client(settings))
            for key, script in scripts.items():
                proxy.script.extend(script)
                request = SendEmail(key=key, order_id="O1", kind=EmailKind.INVOICE, invoice_number=invoice.number)
                for _ in range(10):
                    try:
                        outcomes.append(await asyncio.to_thread(ActivityEnvironment().run, email.send_email, request))
                        break
                    except ApplicationError as exc:
                        retry_delays.append(exc.next_retry_delay)
                    except Exception:  # dropped or timed-out connections: Temporal retries them too
                        retry_delays.append(None)
        mails = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
    injected = sum(len(s) for s in scripts.values())
    print(f"\nemail through faults: {len(retry_delays)} failed attempts, {proxy.faults_injected()} faults injected")
    assert len(outcomes) == 3 and proxy.faults_injected() == injected == len(retry_delays)
    assert timedelta(seconds=1) in retry_delays, "the 429's Retry-After is passed on to Temporal's retry"
    # Each email's last fault came after the sink took it: the next attempt asked Email Activity for the
    # key and found it. The sink holds exactly one email per key, the one each activity reports.
    assert sorted(m["id"] for m in mails) == sorted(o.message_id for o in outcomes)
    assert all(o.already_sent for o in outcomes)
    with transaction(database.engine) as session:
        rows = session.exec(select(EmailOutbox)).all()
        assert sorted((r.key, r.status) for r in rows) == [(key, "sent") for key in sorted(scripts)]


class DownSendGrid:
    """SendGrid answering 503 to everything."""

    def __init__(self) -> None:
        self.client = self
        self.messages = self
        self.calls = 0

    def send(self, _: Any) -> Any:
        self.calls += 1
        raise HTTPError(503, "Service Unavailable", b'{"errors": []}', {})

    def get(self, **_: Any) -> Any:
        raise HTTPError(503, "Service Unavailable", b"", {})


async def test_retries_capped_by_configuration_end_in_a_clear_state(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    down = DownSendGrid()
    order = sample_order()
    policy = OrderPolicy(email_max_attempts=2)
    async with running_worker(time_env.client, sqlite_db, task_queue, mail=down, policy=policy):
        handle = await start(time_env.client, order, task_queue)
        lines = [ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)]
        await handle.signal(
            "shipment_dispatched", ShipmentDispatched(shipment_id="S1", lines=lines, carrier="UPS", tracking_number="1")
        )
        view = await eventually(handle, lambda s: any(e.event == "email_failed" for e in s.timeline), "email failed")
        await handle.terminate("test done")
    failed = next(e for e in view.timeline if e.event == "email_failed")
    assert failed.refused and failed.detail.startswith(f"invoice ({order.order_id}:invoice:")
    assert view.status == OrderStatus.INVOICED and view.totals.due == view.totals.invoiced, "the order went on"
    # The second attempt had to rule out that the first reached SendGrid; Email Activity was down too, so
    # it did not send blind: two attempts, one send.
    assert down.calls == 1
    with transaction(sqlite_db.engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.event == "email_failed")).all()
    assert [a.detail.split(":")[0] for a in audit] == ["invoice not sent after 2 attempts"]
