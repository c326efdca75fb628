"""Recording shipments and their delivery."""

from datetime import datetime

from models.activity_io.base import Message
from models.contract import ShipmentDispatched


class RecordShipment(Message):
    order_id: str
    shipment: ShipmentDispatched
    exception: str | None


class RecordDelivery(Message):
    order_id: str
    shipment_id: str
    delivered_at: datetime
