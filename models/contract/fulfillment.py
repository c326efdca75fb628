"""What the warehouse reports: shipments dispatched and delivered."""

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from models.contract.base import Contract, Identifier


class ShippedLine(Contract):
    sku: Identifier
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]


class ShipmentDispatched(Contract):
    shipment_id: Identifier
    lines: Annotated[list[ShippedLine], Field(min_length=1, max_length=500)]
    carrier: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    tracking_number: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    dispatched_at: datetime | None = None


class ShipmentDelivered(Contract):
    shipment_id: Identifier
    delivered_at: datetime
