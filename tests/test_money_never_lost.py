"""Issue #19: money an order cannot apply is booked and queued, refusals are refusals, nothing wedges.

Every payment a customer makes that its order cannot apply (cancelled or rejected before an invoice, another
currency, more than due) becomes a receipt in the cash-application queue exactly once, booked to unapplied
cash and visible to finance. Amounts that are no money in the order's currency are refused like any other
bad decision, on the timeline and to the update's caller, instead of failing every workflow task.
"""

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.cash_application import open_receipts
from models.contract import OrderStatus, PlaceOrder
from models.policy import CreditRules
from models.tables import CashReceipt, LedgerEntry, Order, Payment
from o2c.client import DecisionRefused, O2CClient
from o2c.reporting.customer_report import customer_report
from tests.harness import eventually, keep_history, running_worker, status
from tests.support import Database, sample_order
from tests.test_workflow_paths import payment, ship_all

ALL = [("WIDGET", 2), ("GADGET", 1)]  # sample_order's lines: 49.48 USD with tax


async def invoiced(o2c: O2CClient, order: PlaceOrder) -> WorkflowHandle[Any, Any]:
    """The order placed, shipped in full and invoiced (49.48 USD due)."""
    handle = await o2c.start_order(order)
    await o2c.ship(order.order_id, ship_all(ALL))
    await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
    return handle


def unapplied_cash(db: Database, currency: str = "USD") -> int:
    """Balance of 2100 unapplied cash (credit side positive)."""
    with Session(db.engine) as session:
        rows = session.exec(
            select(LedgerEntry.debit_minor, LedgerEntry.credit_minor).where(
                LedgerEntry.account == "2100-unapplied-cash", LedgerEntry.currency == currency
            )
        ).all()
    return sum(credit - debit for debit, credit in rows)


def queue(db: Database) -> dict[str, int]:
    with Session(db.engine) as session:
        return {r.id: r.unapplied_minor for r in open_receipts(session)}


def no_failed_task(events: Any) -> None:
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, failed[0].workflow_task_failed_event_attributes


@pytest.mark.parametrize("ending", ["cancelled", "rejected"])
async def test_a_payment_before_invoicing_is_queued_when_the_order_ends_without_an_invoice(
    time_env: WorkflowEnvironment, database: Database, task_queue: str, ending: str
) -> None:
    big = ending == "rejected"
    order = sample_order(lines=[("REACTOR", 1, "25000.00")] if big else None)
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        waiting = OrderStatus.CREDIT_HOLD if big else OrderStatus.AWAITING_SHIPMENT
        await eventually(handle, lambda s: s.status == waiting, waiting.value)
        await o2c.payment_received(order.order_id, payment("PRE-1", "30.00"))
        await o2c.payment_received(order.order_id, payment("PRE-1", "30.00"))  # delivered twice: one payment
        if ending == "cancelled":
            await o2c.cancel_order(order.order_id, {"by": "ops", "reason": "customer withdrew the order"})
        else:
            await o2c.reject_credit(order.order_id, {"by": "cfo", "reason": "exposure too high"})
        outcome = await handle.result()
        view = await status(handle)
        no_failed_task((await handle.fetch_history()).events)
        if database.kind == "sqlite":
            await keep_history(handle, f"paid_before_invoice_{ending}")
    assert outcome.status == (OrderStatus.REJECTED if big else OrderStatus.CANCELLED)
    assert queue(database) == {"PRE-1": 3000}
    assert unapplied_cash(database) == 3000
    queued = [e for e in view.timeline if e.event == "payment_queued"]
    assert len(queued) == 1 and "PRE-1" in queued[0].detail and "before anything was invoiced" in queued[0].detail
    with Session(database.engine) as session:
        receipt = session.get(CashReceipt, "PRE-1")
        assert receipt is not None and receipt.customer_id == "CUST-1" and receipt.status == "unapplied"
        assert session.exec(select(func.count()).select_from(Payment)).one() == 0
    report = customer_report(database.engine, "CUST-1", CreditRules())
    assert report is not None and [r["receipt"] for r in report["unapplied_cash"]] == ["PRE-1"]


async def test_a_payment_in_another_currency_is_queued_not_dropped(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        await o2c.payment_received(order.order_id, payment("EUR-1", "49.48", "EUR"))
        view = await eventually(handle, lambda s: any(e.event == "payment_queued" for e in s.timeline), "queued")
        assert view.totals.due == Decimal("49.48")  # nothing applied to the USD invoice
        await o2c.payment_received(order.order_id, payment("USD-1", "49.48"))
        await handle.result()
    assert queue(sqlite_db) == {"EUR-1": 4948}
    assert unapplied_cash(sqlite_db, "EUR") == 4948
    with Session(sqlite_db.engine) as session:
        assert session.get(CashReceipt, "EUR-1").reason == "the payment is in EUR, the order in USD"  # type: ignore[union-attr]


async def test_an_overpayment_is_in_the_queue_once(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        await o2c.payment_received(order.order_id, payment("BIG-1", "50000.00"))
        outcome = await handle.result()
    assert outcome.status == OrderStatus.PAID
    assert queue(database) == {"excess:BIG-1": 5_000_000 - 4948}
    assert unapplied_cash(database) == 5_000_000 - 4948  # posted once: by the payment's own journal
    with Session(database.engine) as session:
        receipt = session.get(CashReceipt, "excess:BIG-1")
        assert receipt is not None and receipt.flags == "overpaid" and receipt.customer_id == "CUST-1"


async def test_paid_twice_the_second_payment_is_queued(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    """Two payments of the full amount arrive together: the order takes one, the other is the customer's credit."""
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        await handle.signal("payment_received", payment("TWICE-1", "49.48"))
        await handle.signal("payment_received", payment("TWICE-2", "49.48"))
        await handle.result()
    assert queue(sqlite_db) == {"excess:TWICE-2": 4948}
    assert unapplied_cash(sqlite_db) == 4948


async def test_money_amounts_the_currency_cannot_carry_are_refused_not_wedged(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        today = (await status(handle)).invoices[0].issued_on
        bad: list[tuple[str, dict[str, Any]]] = []
        for amount in ("1.001", "1" + "0" * 16):
            bad += [
                ("write_off", {"by": "ar", "approved_by": "cfo", "reason": "bad amount", "amount": amount}),
                ("open_dispute", {"by": "ar", "dispute_id": f"D-{len(bad)}", "reason": "bad amount", "amount": amount}),
                ("promise_to_pay", {"by": "ar", "amount": amount, "promised_date": str(today + timedelta(days=3))}),
            ]
        for name, body in bad:
            await handle.signal(name, body)
        await o2c.open_dispute(
            order.order_id, {"by": "ar", "dispute_id": "D-OK", "reason": "damaged", "amount": "5.00"}
        )
        await handle.signal(
            "resolve_dispute", {"by": "ar", "dispute_id": "D-OK", "outcome": "credit_note", "amount": "0.005"}
        )
        for name, body in bad:
            with pytest.raises(DecisionRefused, match=r"more decimals than USD allows|beyond any plausible order"):
                await getattr(o2c, name)(order.order_id, body)
        view = await status(handle)
        refused = [e for e in view.timeline if e.refused and e.event in {n for n, _ in bad} | {"resolve_dispute"}]
        assert len(refused) == len(bad) + 1
        assert view.totals.due == Decimal("49.48") and view.totals.written_off == 0
        no_failed_task((await handle.fetch_history()).events)
        await handle.terminate("test over")


async def test_an_early_write_off_needs_a_second_person(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        with pytest.raises(DecisionRefused, match=r"dunning is at level 0; a write-off before level 4 needs"):
            await o2c.write_off(order.order_id, {"by": "ar", "reason": "small balance"})
        with pytest.raises(DecisionRefused, match="someone other than the person who asks"):
            await o2c.write_off(order.order_id, {"by": "ar", "approved_by": "AR", "reason": "small balance"})
        await o2c.write_off(order.order_id, {"by": "ar", "approved_by": "controller", "reason": "small balance"})
        outcome = await handle.result()
    assert outcome.status == OrderStatus.WRITTEN_OFF


async def test_refusals_quote_the_status_the_order_has_now(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await invoiced(o2c, order)
        with pytest.raises(DecisionRefused, match=r"not on credit hold \(it is INVOICED\)"):
            await o2c.approve_credit(order.order_id, {"by": "cfo"})
        await handle.terminate("test over")


async def test_a_repeated_id_with_other_content_is_said_on_the_timeline(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order(invoicing="per_shipment")
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        await o2c.ship(order.order_id, ship_all([("WIDGET", 1)]))
        await o2c.ship(order.order_id, ship_all([("WIDGET", 1)]))  # the same message again: said nothing
        await o2c.ship(order.order_id, ship_all([("WIDGET", 2)]))  # the same id, other lines
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        await o2c.payment_received(order.order_id, payment("P-1", "10.00"))
        await o2c.payment_received(order.order_id, payment("P-1", "10.00"))
        await o2c.payment_received(order.order_id, payment("P-1", "12.00"))
        view = await eventually(
            handle, lambda s: sum(e.refused for e in s.timeline) == 2 and s.totals.paid > 0, "both said"
        )
        await handle.terminate("test over")
    refused = Counter(e.event for e in view.timeline if e.refused)
    assert refused == Counter({"shipment_dispatched": 1, "payment_received": 1})
    assert view.shipped == {"WIDGET": 1} and view.totals.paid == Decimal("10.00")
    said = " ".join(e.detail for e in view.timeline if e.refused)
    assert "warehouse integration" in said and "received before as 10.00 USD" in said


async def test_an_order_started_under_a_foreign_id_is_refused_before_it_writes(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        handle: WorkflowHandle[Any, Any] = await time_env.client.start_workflow(
            "OrderToCash", order, id=f"second-{order.order_id}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert f"runs as workflow 'order-{order.order_id}'" in str(failure.value.cause)
    with Session(sqlite_db.engine) as session:
        assert session.get(Order, order.order_id) is None
