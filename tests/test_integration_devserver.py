"""The happy path on the real dev server with the real activities, database, localstripe and SendGrid sink."""

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import stripe
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities, sendgrid_client
from activities.invoicing import InvoicingActivities
from activities.payments import stripe_client
from models.activity_io import EmailKind, IssueInvoice, SendEmail
from models.contract import OrderStatus, PaymentMethod, ShipmentDispatched, ShippedLine
from models.tables import CardCharge, EmailOutbox, Invoice, LedgerEntry, WebhookEvent
from o2c.cli import dev as cli
from o2c.client import O2CClient
from o2c.devtools.sendgrid_sink import create_app as sink_app
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from o2c.web.paylink import PayPage
from o2c.web.webhook import HANDLED_EVENTS
from o2c.web.webhook import create_app as webhook_app
from tests.harness import eventually, running_worker
from tests.seed import add_customer, add_shipped_order
from tests.support import BackgroundServer, Database, free_port, sample_order

pytestmark = pytest.mark.integration
SECRET = "whsec_test_integration"


@asynccontextmanager
async def localstripe_webhook(http: httpx.AsyncClient, localstripe: str, webhook_port: int) -> AsyncIterator[None]:
    """localstripe delivers its events to our receiver while the block runs (and to nobody after): only the
    events the receiver handles, as the dev stack and a real Stripe endpoint are registered."""
    url = f"{localstripe}/_config/webhooks/o2c-{webhook_port}"
    endpoint = {
        "url": f"http://127.0.0.1:{webhook_port}/stripe/webhook",
        "secret": SECRET,
        "events": sorted(HANDLED_EVENTS),
    }
    await http.post(url, auth=("sk_test_x", ""), json=endpoint)
    try:
        yield
    finally:
        await http.delete(url, auth=("sk_test_x", ""))


async def test_card_order_paid_end_to_end(
    dev_env: WorkflowEnvironment, localstripe: str, database: Database, tmp_path: Path, task_queue: str
) -> None:
    sink_port, webhook_port = free_port(), free_port()
    settings = Settings(
        database_url=database.url,
        stripe_api_base=localstripe,
        sendgrid_host=f"http://127.0.0.1:{sink_port}",
        stripe_webhook_secret=SECRET,
    )
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    async with (
        BackgroundServer(sink_app(tmp_path / "mail"), sink_port),
        BackgroundServer(webhook_app(dev_env.client, SECRET, database.engine, task_queue=task_queue), webhook_port),
        httpx.AsyncClient() as http,
        localstripe_webhook(http, localstripe, webhook_port),
    ):
        async with running_worker(
            dev_env.client,
            database,
            task_queue,
            mail=sendgrid_client(settings),
            stripe_api=stripe_client(settings),
            settings=settings,
        ):
            o2c = O2CClient(dev_env.client, task_queue)
            handle = await o2c.start_order(order)
            await o2c.ship(
                order.order_id,
                ShipmentDispatched(
                    shipment_id="S1",
                    lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
                    carrier="UPS",
                    tracking_number="1Z1",
                    dispatched_at=datetime.now(UTC),
                ),
            )
            outcome = await handle.result()
            forged = await http.post(
                f"http://127.0.0.1:{webhook_port}/stripe/webhook",
                content=b'{"id": "evt_1"}',
                headers={"Stripe-Signature": "t=1,v1=deadbeef"},
            )
            delivered = await _webhook_event(database, "payment_intent.succeeded")
        mails = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
    assert outcome.status == OrderStatus.PAID
    assert forged.status_code == 400
    invoice_mails = [m for m in mails if m["payload"]["subject"].startswith("Invoice")]
    assert len(invoice_mails) == 1
    assert invoice_mails[0]["payload"]["personalizations"][0]["to"][0]["email"] == "ada@example.com"
    with Session(database.engine) as session:
        charges = session.exec(select(CardCharge)).all()
        assert [c.status for c in charges] == ["succeeded"]
        assert len(session.exec(select(EmailOutbox)).all()) == 1
        journals = {e.journal.split(":")[0] for e in session.exec(select(LedgerEntry)).all()}
        assert journals == {"invoice", "payment"}
    intent = stripe_client(settings).v1.payment_intents.retrieve(charges[0].stripe_payment_intent or "")
    assert intent.status == "succeeded"
    assert intent.amount == 4948
    # localstripe's signed webhook reached the receiver: the order had already applied the charge's own
    # answer (or took the signal first), and the event is on record once.
    assert delivered.object_id == intent.id and delivered.order_id == order.order_id
    assert delivered.outcome in ("already applied", "signalled payment_received")


async def _webhook_event(database: Database, kind: str) -> WebhookEvent:
    """Waits for a webhook event localstripe delivers about a second after the fact."""
    for _ in range(200):
        with Session(database.engine) as session:
            row = session.exec(select(WebhookEvent).where(WebhookEvent.type == kind)).first()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} event was delivered")


async def test_status_and_search_attributes_visible(
    dev_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(dev_env.client, sqlite_db, task_queue):
        o2c = O2CClient(dev_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        summary = await (await handle.describe()).static_summary()
        assert summary is not None
        assert order.order_id in summary
        found = []
        for _ in range(50):
            found = [
                w.id
                async for w in dev_env.client.list_workflows(
                    f'OrderStatus="AWAITING_SHIPMENT" AND CustomerId="CUST-1" AND WorkflowId="{handle.id}"'
                )
            ]
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [handle.id]
        await o2c.cancel_order(order.order_id, {"by": "test", "reason": "done looking"})
        await handle.result()


def test_stripe_sdk_is_pointed_at_localstripe(localstripe: str) -> None:
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe})
    assert client.v1.customers.create(params={"email": "x@example.com"}).id.startswith("cus_")


async def mail_body(http: httpx.AsyncClient, sink_port: int, subject_start: str) -> str:
    """The email's text, once the sink has it (the workflow moves on before the email activity ends)."""
    for _ in range(200):
        mails = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
        found = [m["payload"] for m in mails if m["payload"]["subject"].startswith(subject_start)]
        if found:
            return str(found[0]["content"][0]["value"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email {subject_start!r} reached the sink")


def intent_of(db: Database, number: str) -> str | None:
    with Session(db.engine) as session:
        invoice = session.get(Invoice, number)
        return invoice.stripe_payment_intent if invoice else None


async def test_payment_link_pays_a_bank_transfer_invoice(
    dev_env: WorkflowEnvironment, localstripe: str, database: Database, tmp_path: Path, task_queue: str
) -> None:
    """The link in the invoice email opens a page with a PaymentIntent for what is open; confirming it (what
    Stripe.js does in the customer's browser) brings the payment back through Stripe's webhook."""
    sink_port, webhook_port = free_port(), free_port()
    settings = Settings(
        database_url=database.url,
        stripe_api_base=localstripe,
        sendgrid_host=f"http://127.0.0.1:{sink_port}",
        stripe_webhook_secret=SECRET,
        public_url=f"http://127.0.0.1:{webhook_port}",
        payment_link_secret="paylink-secret-of-this-test",
    )
    api = stripe_client(settings)
    pay_page = PayPage(database.engine, api, settings)
    order = sample_order()
    async with (
        BackgroundServer(sink_app(tmp_path / "mail"), sink_port),
        BackgroundServer(webhook_app(dev_env.client, SECRET, database.engine, pay_page, task_queue), webhook_port),
        httpx.AsyncClient() as http,
        localstripe_webhook(http, localstripe, webhook_port),
        running_worker(
            dev_env.client, database, task_queue, mail=sendgrid_client(settings), stripe_api=api, settings=settings
        ),
    ):
        o2c = O2CClient(dev_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(
            order.order_id,
            ShipmentDispatched(
                shipment_id="S1",
                lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
                carrier="UPS",
                tracking_number="1Z2",
            ),
        )
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        number = view.invoices[0].number
        body = await mail_body(http, sink_port, f"Invoice {number}")
        link = body.split("Or pay online by card: ")[1].split()[0]
        assert link.startswith(f"http://127.0.0.1:{webhook_port}/pay/{number}?e=")
        forged = await http.get(link[:-1] + ("1" if link.endswith("0") else "0"))
        page = await http.get(link)
        first_intent = intent_of(database, number)
        await http.get(link)  # opened twice: the same PaymentIntent
        assert forged.status_code == 404
        assert page.status_code == 200 and "49.48 USD" in page.text
        assert f"{localstripe}/js.stripe.com/v3/" in page.text
        assert first_intent is not None and intent_of(database, number) == first_intent
        intent = api.v1.payment_intents.retrieve(first_intent)
        assert (intent.amount, intent.metadata["order_id"]) == (4948, order.order_id)
        refused = await http.post(link, content=b"payment_method=4242424242424242")  # never card numbers
        paid = await http.post(link, content=b"payment_method=pm_card_visa")  # the id Stripe.js made
        assert refused.status_code == 400
        assert "Thank you: your payment of 49.48 USD was received" in paid.text
        outcome = await handle.result()
        paid_page = await http.get(link)
    assert outcome.status == OrderStatus.PAID
    assert outcome.totals.paid == Decimal("49.48")
    assert "nothing left to pay" in paid_page.text


async def test_a_crash_after_sendgrid_accepted_does_not_send_twice(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real SDK against the sink: after a worker died between SendGrid's 202 and our "sent", the retry
    asks SendGrid's Email Activity API for the key and sends nothing more."""
    add_customer(database, limit_minor=None)
    add_shipped_order(database, "O1", [("WIDGET", 1, "10.00", "0")])
    sink_port = free_port()
    settings = Settings(database_url=database.url, sendgrid_host=f"http://127.0.0.1:{sink_port}")
    invoice = ActivityEnvironment().run(
        InvoicingActivities(database.engine, settings).issue_invoice,
        IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=datetime.now(UTC).date()),
    )
    email = EmailActivities(database.engine, settings, sendgrid_client(settings))
    request = SendEmail(key="O1:invoice", order_id="O1", kind=EmailKind.INVOICE, invoice_number=invoice.number)
    async with BackgroundServer(sink_app(tmp_path / "mail"), sink_port), httpx.AsyncClient() as http:
        first = await asyncio.to_thread(ActivityEnvironment().run, email.send_email, request)
        with transaction(database.engine) as session:
            row = session.get(EmailOutbox, "O1:invoice")
            assert row is not None
            row.status = "sending"  # as a worker killed right after SendGrid's 202 leaves it
            session.add(row)
        retried = await asyncio.to_thread(ActivityEnvironment().run, email.send_email, request)
        mails = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
        monkeypatch.setattr(cli, "get_settings", lambda: settings)
        listing = argparse.Namespace(json=False, last=50)
        assert await asyncio.to_thread(cli.cmd_mail, listing) == 0  # `o2c mail` lists the sink's emails
    listed = capsys.readouterr().out
    assert f"Invoice {invoice.number} for order O1" in listed and f"{invoice.number}.pdf" in listed
    assert (first.already_sent, retried.already_sent) == (False, True)
    assert retried.message_id == first.message_id == mails[0]["id"]
    assert len(mails) == 1


async def test_a_card_declined_at_charge_time_is_recorded_once_and_scheduled_for_retry(
    dev_env: WorkflowEnvironment, localstripe: str, database: Database, task_queue: str
) -> None:
    """localstripe declines 4000000000000341 when the charge is made: one declined charge on record, a
    retry scheduled for tomorrow (a soft decline), the customer told, nothing charged."""
    settings = Settings(database_url=database.url, stripe_api_base=localstripe)
    api = stripe_client(settings)
    card = api.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2031, "cvc": "123"}}
    )
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method=card.id)
    async with running_worker(dev_env.client, database, task_queue, stripe_api=api, settings=settings) as mail:
        o2c = O2CClient(dev_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(
            order.order_id,
            ShipmentDispatched(
                shipment_id="S1",
                lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
                carrier="UPS",
                tracking_number="1Z3",
            ),
        )
        view = await eventually(handle, lambda s: s.waiting_for.startswith("card retry"), "retry scheduled")
        await handle.terminate("test done")
    assert [e.detail for e in view.timeline if e.event == "card_declined"] == ["card_declined (soft decline)"]
    with Session(database.engine) as session:
        charges = session.exec(select(CardCharge)).all()
    assert [(c.status, c.decline_code) for c in charges] == [("declined", "card_declined")]
    declined = [m for m in mail.sent if m["subject"].startswith("Payment for invoice")]
    assert len(declined) == 1 and "we will try the card again" in declined[0]["content"][0]["value"]


async def test_direct_debits_settle_or_come_back_through_the_webhook(
    dev_env: WorkflowEnvironment, localstripe: str, database: Database, tmp_path: Path, task_queue: str
) -> None:
    """SEPA Direct Debit on file through the same charge path: localstripe settles one IBAN at once and
    leaves the other processing, then fails it and says so by webhook. The order notes the pending debit,
    and the returned one asks the customer to pay another way; nothing is applied for it."""
    webhook_port = free_port()
    settings = Settings(database_url=database.url, stripe_api_base=localstripe, stripe_webhook_secret=SECRET)
    api = stripe_client(settings)

    def sepa(iban: str) -> str:
        details = {"name": "Ada Lovelace", "email": "ada@example.com"}
        method = api.v1.payment_methods.create(
            params={"type": "sepa_debit", "sepa_debit": {"iban": iban}, "billing_details": details}
        )
        return str(method.id)

    good = sample_order(
        currency="EUR", payment_method=PaymentMethod.DEBIT_ON_FILE, stripe_payment_method=sepa("DE89370400440532013000")
    )
    returned = sample_order(
        currency="EUR", payment_method=PaymentMethod.DEBIT_ON_FILE, stripe_payment_method=sepa("DE62370400440532013001")
    )
    shipment = ShipmentDispatched(
        shipment_id="S1",
        lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
        carrier="DHL",
        tracking_number="JJD1",
    )
    app = webhook_app(dev_env.client, SECRET, database.engine, task_queue=task_queue)
    async with (
        BackgroundServer(app, webhook_port),
        httpx.AsyncClient() as http,
        localstripe_webhook(http, localstripe, webhook_port),
        running_worker(dev_env.client, database, task_queue, stripe_api=api, settings=settings) as mail,
    ):
        o2c = O2CClient(dev_env.client, task_queue)
        paid_handle = await o2c.start_order(good)
        returned_handle = await o2c.start_order(returned)
        await o2c.ship(good.order_id, shipment)
        await o2c.ship(returned.order_id, shipment)
        paid = await paid_handle.result()
        view = await eventually(
            returned_handle,
            lambda s: any(m["subject"].startswith("Payment for invoice") for m in mail.sent),
            "the returned debit reported",
        )
        await returned_handle.terminate("test done")
    assert paid.status == OrderStatus.PAID
    events = [e.event for e in view.timeline]
    assert "debit_processing" in events and "payment_applied" not in events
    assert view.totals.due == view.totals.invoiced
    with Session(database.engine) as session:
        charges = {c.order_id: c.status for c in session.exec(select(CardCharge)).all()}
    assert charges == {good.order_id: "succeeded", returned.order_id: "processing"}
    told = [m for m in mail.sent if m["subject"].startswith("Payment for invoice")]
    assert len(told) == 1 and "direct debit was returned" in told[0]["content"][0]["value"]
