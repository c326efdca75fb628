"""Every main path of OrderToCash in the time-skipping environment, with the real activities and database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from models.contract import (
    OrderStatus,
    PaymentChannel,
    PaymentReceived,
    ShipmentDispatched,
    ShippedLine,
)
from tests.harness import eventually, running_worker, start
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
    assert outcome.status == OrderStatus.PAID
    assert outcome.totals.paid == Decimal("49.48")
    assert [s for s in mail.subjects() if s.startswith("Invoice")] == [view.invoices[0].number and f"Invoice {view.invoices[0].number} for order {order.order_id}"]


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
    assert outcome.status == OrderStatus.PAID
    reminders = [s for s in mail.subjects() if "overdue" in s or "Reminder" in s]
    assert len(reminders) == 3  # pre-due, overdue, second
