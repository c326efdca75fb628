"""The webhook receiver on Stripe's event shapes (signed here with our secret, as Stripe signs them):
chargebacks become disputes on the order and move the money, refunds made at Stripe are recorded, each
event id acts once, and nothing is acknowledged that Temporal did not accept."""

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from models.contract import ChargebackResult, ChargebackStatus
from models.naming import chargeback_id, stripe_refund_id
from models.tables import CardCharge, CashReceipt, Chargeback, Dispute, LedgerEntry, Payment, Refund, WebhookEvent
from o2c.platform.db import transaction
from o2c.web.webhook import create_app
from tests.harness import keep_history, running_worker
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database

SECRET = "whsec_test_events"


def signed(event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, signature_headers(body, secret, at)


def signature_headers(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Headers carrying Stripe's signature of ``body`` byte for byte."""
    stamp = at or int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def event(event_id: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": int(time.time()), "data": {"object": obj}}


def dispute(status: str, due_in_days: int = 10) -> dict[str, Any]:
    """Stripe's dispute object (fixtures3 shape), on PaymentIntent pi_paid."""
    return {
        "id": "dp_1",
        "object": "dispute",
        "amount": 30_00,
        "currency": "usd",
        "charge": "ch_1",
        "payment_intent": "pi_paid",
        "reason": "product_not_received",
        "status": status,
        "evidence_details": {"due_by": int((datetime.now(UTC) + timedelta(days=due_in_days)).timestamp())},
        "metadata": {},
    }


def paid_order(db: Database) -> None:
    add_customer(db)
    add_order(db, "O1", 30_00)
    add_invoice(db, "INV-2026-000001", "O1", 30_00, date.today(), paid_on=date.today())
    with transaction(db.engine) as session:
        session.add(
            Payment(
                id="pi_paid",
                order_id="O1",
                customer_id="C1",
                amount_minor=30_00,
                unapplied_minor=0,
                currency="USD",
                method="card",
                received_at=datetime.now(UTC),
            )
        )


def journal(db: Database, name: str) -> list[tuple[str, int, int]]:
    with transaction(db.engine) as session:
        rows = session.exec(select(LedgerEntry).where(LedgerEntry.journal == name)).all()
        return sorted((r.account, r.debit_minor, r.credit_minor) for r in rows)


async def post(http: httpx.AsyncClient, payload: dict[str, Any], **sign: Any) -> httpx.Response:
    body, headers = signed(payload, **sign)
    return await http.post("/stripe/webhook", content=body, headers=headers)


def webhook(env: WorkflowEnvironment, db: Database, task_queue: str) -> httpx.AsyncClient:
    app = create_app(env.client, SECRET, db.engine, task_queue=task_queue)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://webhook")


async def until_recorded(handle: WorkflowHandle[Any, Any]) -> ChargebackResult:
    for _ in range(400):
        try:
            result = await handle.query("status", result_type=ChargebackResult)
            if result.order_id:
                return result
        except RPCError:
            pass
        await asyncio.sleep(0.025)
    raise AssertionError("the chargeback was never recorded")


async def test_a_chargeback_is_a_dispute_on_the_order_until_the_bank_decides(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    paid_order(database)
    async with (
        running_worker(time_env.client, database, task_queue) as mail,
        webhook(time_env, database, task_queue) as http,
    ):
        opened = await post(http, event("evt_open", "charge.dispute.created", dispute("needs_response")))
        redelivered = await post(http, event("evt_open", "charge.dispute.created", dispute("needs_response")))
        handle = time_env.client.get_workflow_handle(chargeback_id("dp_1"), result_type=ChargebackResult)
        recorded = await until_recorded(handle)
        with transaction(database.engine) as session:
            order_dispute = session.exec(select(Dispute).where(Dispute.order_id == "O1")).one()
            assert (order_dispute.dispute_id, order_dispute.status, order_dispute.opened_by) == (
                "dp_1",
                "open",
                "stripe",
            )
        await time_env.sleep(timedelta(days=8))  # three days before the evidence is due: a reminder
        closed = await post(http, event("evt_closed", "charge.dispute.closed", dispute("lost")))
        result = await handle.result()
        if database.kind == "sqlite":
            await keep_history(handle, "chargeback_lost")
    assert (opened.status_code, redelivered.json()) == (200, {"duplicate": "evt_open"})
    assert closed.status_code == 200
    assert recorded.order_id == "O1"
    assert result.status is ChargebackStatus.LOST
    assert journal(database, "chargeback:dp_1") == [("1000-cash", 0, 30_00), ("1150-chargebacks-in-dispute", 30_00, 0)]
    assert journal(database, "chargeback:dp_1:lost") == [
        ("1150-chargebacks-in-dispute", 0, 30_00),
        ("6200-chargeback-losses", 30_00, 0),
    ]
    with transaction(database.engine) as session:
        row = session.get(Chargeback, "dp_1")
        order_dispute = session.exec(select(Dispute).where(Dispute.order_id == "O1")).one()
        assert row is not None and row.status == "lost" and order_dispute.status == "lost"
    assert mail.subjects() == [
        "Chargeback on order O1",
        "Evidence due soon: chargeback on order O1",
        "Chargeback decided on order O1",
    ]
    assert {m["personalizations"][0]["to"][0]["email"] for m in mail.sent} == {"ar@o2c.example.com"}


async def test_a_won_chargeback_missed_at_opening_still_balances(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    """Only ``charge.dispute.closed`` arrives (the opening event was lost): the chargeback is opened and
    closed in one go, and cash is back where it was."""
    paid_order(database)
    async with running_worker(time_env.client, database, task_queue), webhook(time_env, database, task_queue) as http:
        closed = await post(http, event("evt_won", "charge.dispute.closed", dispute("won")))
        result = await time_env.client.get_workflow_handle(chargeback_id("dp_1"), result_type=ChargebackResult).result()
    assert closed.status_code == 200 and result.status is ChargebackStatus.WON
    with transaction(database.engine) as session:
        cash = session.exec(select(LedgerEntry).where(LedgerEntry.account == "1000-cash")).all()
    assert sum(e.debit_minor - e.credit_minor for e in cash) == 0


async def test_a_refund_made_at_stripe_is_recorded_once(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    paid_order(database)
    refund = {
        "id": "re_dash",
        "object": "refund",
        "amount": 10_00,
        "currency": "usd",
        "charge": "ch_1",
        "payment_intent": "pi_paid",
        "status": "succeeded",
        "metadata": {},
    }
    async with (
        running_worker(time_env.client, database, task_queue) as mail,
        webhook(time_env, database, task_queue) as http,
    ):
        first = await post(http, event("evt_r1", "refund.created", refund))
        # Stripe also reports it inside the charge; a different event id, the same refund and status.
        charge = {"id": "ch_1", "object": "charge", "refunds": {"data": [refund]}}
        second = await post(http, event("evt_r2", "charge.refunded", charge))
        refund_handle = time_env.client.get_workflow_handle(stripe_refund_id("re_dash", "succeeded"))
        recorded = await refund_handle.result()
        if database.kind == "sqlite":
            await keep_history(refund_handle, "stripe_refund_external")
    assert first.status_code == second.status_code == 200
    assert recorded["source"] == "stripe" and recorded["order_id"] == "O1"
    with transaction(database.engine) as session:
        rows = session.exec(select(Refund)).all()
    assert [(r.key, r.source, r.status, r.amount_minor) for r in rows] == [
        ("stripe:re_dash", "stripe", "succeeded", 10_00)
    ]
    assert journal(database, "refund:stripe:re_dash") == [("1000-cash", 0, 10_00), ("2100-unapplied-cash", 10_00, 0)]
    assert mail.subjects() == ["Refund made outside o2c on order O1"]


async def test_events_are_verified_acted_on_once_and_kept_when_no_order_takes_them(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    add_customer(database)
    intent = {
        "id": "pi_late",
        "object": "payment_intent",
        "amount": 12_00,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"order_id": "GONE", "invoice_number": "INV-2026-000009"},
    }
    async with webhook(time_env, database, task_queue) as http:
        forged = await post(http, event("evt_f", "payment_intent.succeeded", intent), secret="whsec_someone_else")
        stale = await post(http, event("evt_s", "payment_intent.succeeded", intent), at=int(time.time()) - 3600)
        unsigned = await http.post("/stripe/webhook", content=json.dumps(event("evt_u", "x", {})).encode())
        kept = await post(http, event("evt_late", "payment_intent.succeeded", intent))
        failed = await post(
            http,
            event(
                "evt_fail",
                "payment_intent.payment_failed",
                intent | {"status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}},
            ),
        )
        ignored = await post(http, event("evt_other", "customer.created", {"id": "cus_1"}))
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [400, 400, 400]
    assert kept.json() == {"outcome": "unapplied: order GONE is not open"}
    assert failed.json() == {"outcome": "ignored: order GONE is not open"}
    assert ignored.json() == {"ignored": "customer.created"}
    with transaction(database.engine) as session:
        rows = {r.event_id: r for r in session.exec(select(WebhookEvent)).all()}
    assert set(rows) == {"evt_late", "evt_fail"}, "refused and ignored events leave no row"
    payload = rows["evt_late"].payload
    assert payload is not None and json.loads(payload)["amount"] == 12_00, "the payment is kept for cash application"
    with transaction(database.engine) as session:
        receipt = session.exec(select(CashReceipt).where(CashReceipt.source == "stripe")).one()
    assert (receipt.amount_minor, receipt.unapplied_minor, receipt.status) == (12_00, 12_00, "unapplied")
    assert journal(database, f"receipt:{receipt.id}") == [("1000-cash", 12_00, 0), ("2100-unapplied-cash", 0, 12_00)]


class RefusingClient:
    """A Temporal client whose server is unavailable."""

    def get_workflow_handle(self, _: str) -> "RefusingClient":
        return self

    async def signal(self, *_: Any) -> None:
        raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")


def succeeded_intent(intent_id: str, amount_minor: int, order_id: str) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount_minor,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"order_id": order_id},
    }


async def post_while_temporal_is_down(database: Database, body: dict[str, Any]) -> httpx.Response:
    down = create_app(RefusingClient(), SECRET, database.engine)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://webhook") as http:
        return await post(http, body)


async def test_nothing_is_acknowledged_that_temporal_did_not_accept(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    intent = succeeded_intent("pi_x", 5_00, "O9")
    refused = await post_while_temporal_is_down(database, event("evt_x", "payment_intent.succeeded", intent))
    async with webhook(time_env, database, task_queue) as http:
        retried = await post(http, event("evt_x", "payment_intent.succeeded", intent))
    assert refused.status_code == 503, "Stripe retries"
    assert retried.status_code == 200 and retried.json()["outcome"].startswith("unapplied")


async def test_a_charge_the_order_applied_itself_does_not_wake_the_order(database: Database) -> None:
    """payment_intent.succeeded for a card-on-file charge the order already applied from the charge's own
    answer: answered from the database, without a signal (this client would refuse one)."""
    paid_order(database)
    intent = succeeded_intent("pi_paid", 30_00, "O1")
    answer = await post_while_temporal_is_down(database, event("evt_paid", "payment_intent.succeeded", intent))
    assert answer.status_code == 200
    assert answer.json() == {"outcome": "already applied"}


class OrderClient:
    """A Temporal client on which the order's workflow has the given status and every signal is refused."""

    def __init__(self, status: WorkflowExecutionStatus | None) -> None:
        self.status = status
        self.described: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> "OrderClient":
        self.described.append(workflow_id)
        return self

    async def describe(self) -> Any:
        if self.status is None:
            raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
        return SimpleNamespace(status=self.status)

    async def signal(self, *_: Any) -> None:
        raise RPCError("no signal expected", RPCStatusCode.UNAVAILABLE, b"")


def charge_in_flight(db: Database, key: str, status: str) -> dict[str, Any]:
    """An order whose charge_card has created its intent (key on record) and not yet applied it."""
    add_customer(db)
    add_order(db, "O1", 30_00)
    add_invoice(db, "INV-2026-000001", "O1", 30_00, date.today())
    with transaction(db.engine) as session:
        session.add(
            CardCharge(
                idempotency_key=key,
                order_id="O1",
                invoice_number="INV-2026-000001",
                amount_minor=30_00,
                currency="USD",
                status=status,
                created_at=datetime.now(UTC),
            )
        )
    return succeeded_intent("pi_own", 30_00, "O1") | {
        "metadata": {"order_id": "O1", "o2c_idempotency_key": key, "o2c_channel": "card"}
    }


async def post_with(client: OrderClient, database: Database, body: dict[str, Any]) -> httpx.Response:
    app = create_app(client, SECRET, database.engine)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://webhook") as http:
        return await post(http, body)


async def test_the_orders_own_card_charge_is_left_to_the_order(database: Database) -> None:
    """The charge_card activity reports its intent to the order: a signal would mostly land while the
    order applies it and closes, and the server would refuse that task. The running order is not
    signalled (this client refuses signals), whether the charge has recorded its answer or not yet."""
    intent = charge_in_flight(database, "key-1", "pending")
    client = OrderClient(WorkflowExecutionStatus.RUNNING)
    answer = await post_with(client, database, event("evt_own", "payment_intent.succeeded", intent))
    assert answer.status_code == 200
    assert answer.json() == {"outcome": "reported by the order's own charge"}
    assert client.described == ["order-O1"]


async def test_the_orders_own_charge_on_a_closed_order_is_kept_for_cash_application(database: Database) -> None:
    intent = charge_in_flight(database, "key-2", "succeeded")
    answer = await post_with(
        OrderClient(WorkflowExecutionStatus.TERMINATED), database, event("evt_t", "payment_intent.succeeded", intent)
    )
    assert answer.status_code == 503, "the closed order is signalled, as any other payment (this client refuses)"
    with transaction(database.engine) as session:
        assert session.exec(select(WebhookEvent)).all() == []


async def test_a_debit_still_settling_is_signalled_to_the_order(database: Database) -> None:
    """A direct debit comes back "processing": the order waits for this very webhook."""
    intent = charge_in_flight(database, "key-3", "processing")
    intent["metadata"]["o2c_channel"] = "direct_debit"
    client = OrderClient(WorkflowExecutionStatus.RUNNING)
    answer = await post_with(client, database, event("evt_d", "payment_intent.succeeded", intent))
    assert answer.status_code == 503, "signalled (and this client refuses the signal)"
    assert client.described == ["order-O1"], "only the signal's handle: no describe"


def test_the_endpoint_is_registered_for_exactly_the_events_handled() -> None:
    """The dev stack registers HANDLED_EVENTS with Stripe: an event with a handler but not in it would never
    arrive, and one in it without a handler would be posted only to be dropped."""
    from o2c.web.webhook import HANDLED_EVENTS, StripeEvents

    receiver = StripeEvents(client=None, signing_secret=SECRET, engine=None)  # type: ignore[arg-type]
    assert set(receiver._handlers) == HANDLED_EVENTS
