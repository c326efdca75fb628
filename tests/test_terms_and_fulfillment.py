"""Payment terms through the workflow (every kind, the early-payment discount honoured at cash application)
and fulfillment's alerts to operations."""

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from models.contract import OrderStatus, PaymentChannel, PaymentReceived, ShipmentDispatched, ShippedLine
from models.tables import LedgerEntry
from o2c.client import O2CClient
from tests.harness import eventually, running_worker
from tests.support import Database, sample_order

ALL = [("WIDGET", 2), ("GADGET", 1)]  # sample_order's lines: 49.48 USD with tax


def shipment(shipment_id: str, lines: list[tuple[str, int]]) -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id=shipment_id,
        lines=[ShippedLine(sku=sku, quantity=qty) for sku, qty in lines],
        carrier="DHL",
        tracking_number=f"JD{shipment_id}",
    )


def paid(payment_id: str, amount: str, at: datetime) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=Decimal(amount),
        currency="USD",
        method=PaymentChannel.BANK_TRANSFER,
        received_at=at,
    )


@pytest.mark.parametrize(
    ("terms", "due"),
    [
        ({"net_days": 0}, lambda issued: issued),
        ({"net_days": 14}, lambda issued: issued + timedelta(days=14)),
        (
            {"net_days": 30, "end_of_month": True},
            lambda issued: (end := issued + timedelta(days=30)).replace(
                day=calendar.monthrange(end.year, end.month)[1]
            ),
        ),
    ],
    ids=["due-on-receipt", "net-14", "end-of-month"],
)
async def test_each_kind_of_terms_sets_the_due_date(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str, terms: dict[str, Any], due: Any
) -> None:
    order = sample_order(payment_terms=terms)
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, shipment("S1", ALL))
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        invoice = view.invoices[0]
        assert invoice.due_date == due(invoice.issued_on)
        await o2c.payment_received(order.order_id, paid("P1", "49.48", datetime.now(UTC)))
        assert (await handle.result()).status == OrderStatus.PAID


async def test_early_payment_discount_honoured_inside_the_window_only(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    """2/10 net 30: 98% settles the invoice within ten days; after them the 2% is still owed."""
    terms = {"net_days": 30, "discount_percent": "2", "discount_days": 10}
    early, late = sample_order(payment_terms=terms), sample_order(payment_terms=terms)
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        early_handle = await o2c.start_order(early)
        late_handle = await o2c.start_order(late)
        for order in (early, late):
            await o2c.ship(order.order_id, shipment("S1", ALL))
        view = await eventually(early_handle, lambda s: bool(s.invoices), "invoiced")
        issued = datetime.combine(view.invoices[0].issued_on, datetime.min.time(), UTC)
        await eventually(late_handle, lambda s: bool(s.invoices), "invoiced")
        await o2c.payment_received(early.order_id, paid("P-EARLY", "48.49", issued + timedelta(days=9)))
        outcome = await early_handle.result()
        await o2c.payment_received(late.order_id, paid("P-LATE", "48.49", issued + timedelta(days=11)))
        view = await eventually(late_handle, lambda s: s.totals.paid == Decimal("48.49"), "late payment applied")
        assert view.totals.due == Decimal("0.99")
        await o2c.payment_received(late.order_id, paid("P-REST", "0.99", issued + timedelta(days=12)))
        late_outcome = await late_handle.result()
    assert outcome.status == OrderStatus.PAID
    assert (outcome.totals.paid, outcome.totals.due) == (Decimal("48.49"), Decimal("0.00"))
    assert late_outcome.status == OrderStatus.PAID and late_outcome.totals.paid == Decimal("49.48")
    with Session(database.engine) as session:
        discounts = session.exec(
            select(LedgerEntry.debit_minor).where(LedgerEntry.account == "4200-early-payment-discounts")
        ).all()
    assert sum(discounts) == 99  # 2% of 49.48, taken once, by the early payer


async def test_operations_hear_of_a_late_shipment_and_a_wrong_one(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        await time_env.sleep(timedelta(days=15))
        await o2c.ship(order.order_id, shipment("S-BAD", [("WIDGET", 5)]))
        view = await eventually(handle, lambda s: any(e.event == "shipment_exception" for e in s.timeline), "exception")
        assert view.status == OrderStatus.AWAITING_SHIPMENT and not view.invoices  # never invoiced
        await o2c.cancel_order(order.order_id, {"by": "ops", "reason": "warehouse cannot fulfil"})
        await handle.result()
    to_ops = [
        m["subject"] for m in mail.sent if m["personalizations"][0]["to"][0]["email"] == "operations@o2c.example.com"
    ]
    assert to_ops == [f"Order {order.order_id} has not shipped", f"Shipment exception on order {order.order_id}"]


async def test_a_payment_that_names_its_invoice_settles_that_one_first(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order(invoicing="per_shipment")
    async with running_worker(time_env.client, sqlite_db, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, shipment("S1", [("WIDGET", 2)]))
        await eventually(handle, lambda s: len(s.invoices) == 1, "first invoice")
        await o2c.ship(order.order_id, shipment("S2", [("GADGET", 1)]))
        view = await eventually(handle, lambda s: len(s.invoices) == 2, "second invoice")
        second = view.invoices[1]
        payment = paid("P2", str(second.total), datetime.now(UTC)).model_copy(
            update={"reference": f"Remittance: {second.payment_reference[:4]} {second.payment_reference[4:]}"}
        )
        await o2c.payment_received(order.order_id, payment)
        view = await eventually(handle, lambda s: s.totals.paid == second.total, "applied")
    assert [i.open for i in view.invoices] == [view.invoices[0].total, Decimal("0.00")]
    await handle.terminate("test done")
