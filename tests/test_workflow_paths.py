"""Every main path of OrderToCash in the time-skipping environment, with the real activities and database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from models.contract import (
    InvoicingPolicy,
    OrderStatus,
    PaymentChannel,
    PaymentReceived,
    ShipmentDispatched,
    ShippedLine,
)
from models.tables import Invoice, LedgerEntry, Order
from o2c.client import DecisionRefused, InvalidInput, O2CClient, OrderConflict, UnknownOrder
from tests.harness import eventually, keep_history, running_worker, start, status
from tests.support import Database, sample_order


def ship_all(order_lines: list[tuple[str, int]], shipment_id: str = "S1") -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id=shipment_id,
        lines=[ShippedLine(sku=sku, quantity=qty) for sku, qty in order_lines],
        carrier="UPS",
        tracking_number="1Z999",
    )


def payment(payment_id: str, amount: str, currency: str = "USD") -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=Decimal(amount),
        currency=currency,
        method=PaymentChannel.BANK_TRANSFER,
        received_at=datetime.now(UTC),
    )


async def test_paid_on_time(time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 2), ("GADGET", 1)]))
        view = await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        assert view.totals.due == Decimal("49.48")  # (39.98 + 5.00) + 10% tax
        await handle.signal("payment_received", payment("P1", "49.48"))
        outcome = await handle.result()
        await keep_history(handle, "paid_on_time")
    assert outcome.status == OrderStatus.PAID
    assert outcome.totals.paid == Decimal("49.48")
    assert [s for s in mail.subjects() if s.startswith("Invoice")] == [
        view.invoices[0].number and f"Invoice {view.invoices[0].number} for order {order.order_id}"
    ]


async def test_reminders_then_paid(time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 2), ("GADGET", 1)]))
        await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        await time_env.sleep(timedelta(days=38))
        view = await eventually(handle, lambda s: s.dunning_level >= 2, "second reminder")
        assert view.status == OrderStatus.OVERDUE
        await handle.signal("payment_received", payment("P1", "49.48"))
        outcome = await handle.result()
        await keep_history(handle, "paid_after_reminders")
    assert outcome.status == OrderStatus.PAID
    reminders = [s for s in mail.subjects() if "overdue" in s or "Reminder" in s]
    assert len(reminders) == 3  # pre-due, overdue, second


async def test_credit_hold_then_approved(time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str) -> None:
    order = sample_order(lines=[("REACTOR", 1, "25000.00")])
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "on hold")
        with pytest.raises(InvalidInput, match="reason: Field required"):
            await o2c.reject_credit(order.order_id, {"by": "cfo"})
        result = await o2c.approve_credit(order.order_id, {"by": "controller", "note": "known customer"})
        assert result.accepted
        view = await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        assert view.credit_decision == "approved by controller"
        with pytest.raises(DecisionRefused, match="not on credit hold"):
            await o2c.approve_credit(order.order_id, {"by": "controller"})
        await o2c.ship(order.order_id, ship_all([("REACTOR", 1)]))
        view = await eventually(handle, lambda s: s.totals.due > 0, "invoiced")
        await o2c.payment_received(order.order_id, payment("P1", str(view.totals.due)))
        assert (await handle.result()).status == OrderStatus.PAID
        await keep_history(handle, "credit_hold_approved")
    assert any(s.startswith("Credit hold") for s in mail.subjects())


async def test_credit_hold_rejected_by_signal(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order(lines=[("REACTOR", 1, "25000.00")])
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        handle = await start(time_env.client, order, task_queue)
        await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "on hold")
        await handle.signal("reject_credit", {"by": "cfo"})  # no reason: refused, order stays on hold
        view = await eventually(handle, lambda s: any(e.refused for e in s.timeline), "refusal noted")
        assert view.status == OrderStatus.CREDIT_HOLD
        assert "reason" in [e for e in view.timeline if e.refused][0].detail
        await handle.signal("reject_credit", {"by": "cfo", "reason": "exposure too high"})
        outcome = await handle.result()
        await keep_history(handle, "credit_rejected")
    assert outcome.status == OrderStatus.REJECTED
    assert any("cannot accept" in m["content"][0]["value"] for m in mail.sent)
    with Session(sqlite_db.engine) as session:
        row = session.get(Order, order.order_id)
        assert row is not None and row.credit_reserved_minor == 0 and row.status == "REJECTED"


async def test_credit_hold_expires(time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str) -> None:
    order = sample_order(lines=[("REACTOR", 1, "25000.00")])
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        handle = await start(time_env.client, order, task_queue)
        outcome = await handle.result()  # time skips through the reminder and the 7-day expiry
        await keep_history(handle, "credit_hold_expired")
    assert outcome.status == OrderStatus.CANCELLED
    subjects = mail.subjects()
    assert any(s.startswith("Still waiting") for s in subjects)
    assert any(s.startswith(f"Order {order.order_id} cancelled") for s in subjects)


async def test_partial_shipments_invoiced_per_shipment(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order(invoicing=InvoicingPolicy.PER_SHIPMENT)
    async with running_worker(time_env.client, database, task_queue):
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 1)], "S1"))
        view = await eventually(handle, lambda s: len(s.invoices) == 1, "first invoice")
        assert view.status == OrderStatus.INVOICED and view.invoices[0].total == Decimal("21.99")
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 5)], "S-TOO-MANY"))
        await handle.signal("shipment_dispatched", ship_all([("NOPE", 1)], "S-UNKNOWN"))
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 1), ("GADGET", 1)], "S2"))
        await handle.signal("shipment_dispatched", ship_all([("WIDGET", 1), ("GADGET", 1)], "S2"))  # resent
        view = await eventually(handle, lambda s: len(s.invoices) == 2, "second invoice")
        exceptions = [e.detail for e in view.timeline if e.event == "shipment_exception"]
        assert len(exceptions) == 2 and "only 1 left" in exceptions[0] and "not on the order" in exceptions[1]
        await handle.signal("payment_received", payment("P1", "49.48"))
        await handle.signal("payment_received", payment("P1", "49.48"))  # at-least-once delivery
        outcome = await handle.result()
        await keep_history(handle, "partial_shipments")
    assert outcome.status == OrderStatus.PAID and outcome.totals.paid == Decimal("49.48")
    with Session(database.engine) as session:
        invoices = session.exec(select(Invoice).order_by(col(Invoice.number))).all()
        assert [i.invoice_key for i in invoices] == ["shipment:S1", "shipment:S2"]
        assert all(i.open_minor == 0 for i in invoices)
        balance = session.exec(select(func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor))).one()
        assert balance == 0


async def test_dispute_pauses_dunning_and_credit_note_settles(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, ship_all([("WIDGET", 2), ("GADGET", 1)]))
        await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        with pytest.raises(DecisionRefused, match="larger than what is due"):
            await o2c.open_dispute(
                order.order_id, {"dispute_id": "D1", "amount": "100", "by": "ar", "reason": "damaged"}
            )
        await o2c.open_dispute(order.order_id, {"dispute_id": "D1", "amount": "5.50", "by": "ar", "reason": "damaged"})
        await eventually(handle, lambda s: s.status == OrderStatus.DISPUTED, "disputed")
        await time_env.sleep(timedelta(days=60))
        view = await status(handle)
        assert view.dunning_level == 0 and "dunning paused" in view.waiting_for
        await o2c.resolve_dispute(order.order_id, {"dispute_id": "D1", "outcome": "credit_note", "by": "ar"})
        view = await eventually(handle, lambda s: s.totals.credited == Decimal("5.50"), "credited")
        await o2c.payment_received(order.order_id, payment("P1", str(view.totals.due)))
        outcome = await handle.result()
        await keep_history(handle, "dispute")
    assert outcome.status == OrderStatus.PAID
    assert outcome.totals.credited == Decimal("5.50")
    assert not [s for s in mail.subjects() if "overdue" in s]


async def test_cancel_before_shipment_releases_credit(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        with Session(database.engine) as session:
            reserved = session.get(Order, order.order_id)
            assert reserved is not None and reserved.credit_reserved_minor == 4948
        await o2c.cancel_order(order.order_id, {"by": "ops", "reason": "customer asked"})
        outcome = await handle.result()
        await keep_history(handle, "cancellation")
        with pytest.raises(UnknownOrder):
            await o2c.cancel_order(order.order_id, {"by": "ops", "reason": "again"})
    assert outcome.status == OrderStatus.CANCELLED
    with Session(database.engine) as session:
        row = session.get(Order, order.order_id)
        assert row is not None and row.credit_reserved_minor == 0 and row.status == "CANCELLED"


async def test_written_off_after_final_notice(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, ship_all([("WIDGET", 2), ("GADGET", 1)]))
        await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        await o2c.payment_received(order.order_id, payment("P1", "10.00"))
        await time_env.sleep(timedelta(days=80))
        view = await eventually(handle, lambda s: s.dunning_level == 5, "escalated")
        assert view.totals.due == Decimal("39.48")
        await o2c.write_off(order.order_id, {"by": "cfo", "reason": "customer insolvent"})
        outcome = await handle.result()
        await keep_history(handle, "written_off")
        history = await handle.fetch_history()
    # 80 days with every dunning step, a partial payment and a write-off: far below the 51,200-event limit.
    assert len(history.events) < 300
    assert outcome.status == OrderStatus.WRITTEN_OFF
    assert outcome.totals.written_off == Decimal("39.48")
    assert any(s.startswith("Escalation") for s in mail.subjects())
    assert any("39.48 USD" in m["content"][0]["value"] for m in mail.sent if m["subject"].startswith("Final"))


async def test_same_order_twice_is_one_workflow_and_conflict_refused(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        first = await o2c.start_order(order)
        again = await o2c.start_order(order.model_dump(mode="json"))
        assert again.id == first.id
        different = order.model_copy(update={"currency": "EUR"})
        with pytest.raises(OrderConflict, match="different contents"):
            await o2c.start_order(different)
        await o2c.cancel_order(order.order_id, {"by": "test", "reason": "clean up"})
        await first.result()


async def test_invalid_payload_refused_in_timeline(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("payment_received", {"payment_id": "X", "amount": "-5", "currency": "USD"})
        await handle.signal("approve_credit", {"by": "someone"})
        view = await eventually(handle, lambda s: len([e for e in s.timeline if e.refused]) == 2, "refusals")
        refused = [e for e in view.timeline if e.refused]
        assert refused[0].event == "payment_received" and "invalid payload" in refused[0].detail
        assert refused[1].event == "approve_credit" and "not on credit hold" in refused[1].detail
        assert view.totals.paid == 0
        await handle.execute_update("cancel_order", {"by": "test", "reason": "clean up"})
        assert (await handle.result()).status == OrderStatus.CANCELLED


async def test_a_payment_id_already_used_by_another_order_is_refused_not_stuck(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    """Two orders receive payments under the same id (two banks' references colliding): the first is
    applied, the second is refused on its order's timeline, and that order stays due and alive."""
    first, second = sample_order(), sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        handles = [await start(time_env.client, order, task_queue) for order in (first, second)]
        for handle in handles:
            await handle.signal("shipment_dispatched", ship_all([("WIDGET", 2), ("GADGET", 1)]))
            await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        await handles[0].signal("payment_received", payment("SAME-REF", "49.48"))
        assert (await handles[0].result()).status == OrderStatus.PAID
        await handles[1].signal("payment_received", payment("SAME-REF", "49.48"))
        view = await eventually(handles[1], lambda s: any(e.refused for e in s.timeline), "refused")
        await handles[1].signal("payment_received", payment("OWN-REF", "49.48"))
        outcome = await handles[1].result()
    refusal = next(e for e in view.timeline if e.refused)
    assert refusal.detail == f"payment id SAME-REF was already applied to order {first.order_id}"
    assert view.totals.paid == 0 and outcome.status == OrderStatus.PAID
