"""Fulfillment: shipments taken (or recorded as exceptions, never invoiced), deliveries, and an alert to
operations when an approved order has not shipped."""

from temporalio import workflow

from workflows.calls import RECORD_DELIVERY, RECORD_SHIPMENT

with workflow.unsafe.imports_passed_through():
    from models.activity_io import EmailKind, RecordDelivery, RecordShipment
    from models.contract import ShipmentDelivered, ShipmentDispatched
    from workflows.order.core import OrderProcess


async def take_shipment(p: OrderProcess, shipment: ShipmentDispatched) -> None:
    exception = p.book.shipment_exception(shipment)
    record = RecordShipment(order_id=p.order_id, shipment=shipment, exception=exception)
    if exception is not None:
        await p.step(RECORD_SHIPMENT, record)
        p.note("shipment_exception", f"{shipment.shipment_id}: {exception}", refused=True)
        await p.email(EmailKind.SHIPMENT_EXCEPTION, f"shipment-exception:{shipment.shipment_id}", note=exception)
        return
    # Written by the invoice that bills it, in the same transaction, or before any other step.
    p.held_shipments.append(record)
    p.book.accept_shipment(shipment)
    p.note("shipment_dispatched", f"{shipment.shipment_id} via {shipment.carrier} {shipment.tracking_number}")


async def record_delivery(p: OrderProcess, delivery: ShipmentDelivered) -> None:
    await p.step(
        RECORD_DELIVERY,
        RecordDelivery(order_id=p.order_id, shipment_id=delivery.shipment_id, delivered_at=delivery.delivered_at),
    )
    p.note("shipment_delivered", delivery.shipment_id)


async def alert_fulfillment(p: OrderProcess) -> None:
    p.schedule.fulfillment_alerted = True
    note = f"approved {p.policy.fulfillment_alert.days} days ago"
    await p.email(EmailKind.FULFILLMENT_OVERDUE, "fulfillment-overdue", note=note)
