"""Fulfillment: shipments dispatched and delivered. A shipment is written once per shipment id; one the
workflow holds until its invoice is written in the invoice's own transaction (``issue_invoice``)."""

from datetime import UTC, datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, select
from temporalio import activity

from activities.context import log
from models.activity_io import RecordDelivery, RecordShipment
from models.tables import Shipment, ShipmentLine
from o2c.platform.db import insert_rows, transaction


def write_shipment(session: Session, request: RecordShipment) -> None:
    """A dispatched shipment and its lines, once per shipment id (a retry finds it written)."""
    shipment = request.shipment
    existing = session.exec(
        select(Shipment.id).where(Shipment.order_id == request.order_id, Shipment.shipment_id == shipment.shipment_id)
    ).first()
    if existing is not None:
        return
    row = Shipment(
        order_id=request.order_id,
        shipment_id=shipment.shipment_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        exception=request.exception,
        dispatched_at=shipment.dispatched_at or datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    lines = [{"shipment_row_id": row.id, "sku": line.sku, "quantity": line.quantity} for line in shipment.lines]
    insert_rows(session, ShipmentLine, lines)
    log(request.order_id).info("shipment recorded", shipment_id=shipment.shipment_id, exception=request.exception)


class FulfillmentActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_shipment")
    def record_shipment(self, request: RecordShipment) -> None:
        with transaction(self._engine) as session:
            write_shipment(session, request)

    @activity.defn(name="record_delivery")
    def record_delivery(self, request: RecordDelivery) -> None:
        with transaction(self._engine) as session:
            session.execute(
                update(Shipment)
                .where(Shipment.order_id == request.order_id, Shipment.shipment_id == request.shipment_id)  # type: ignore[arg-type]
                .values(delivered_at=request.delivered_at)
            )
