"""Recording an order, the audited facts about it, closing it, and changes to the customer master."""

from datetime import datetime

from models.activity_io.base import Message
from models.activity_io.collections import DisputeRecord
from models.activity_io.credit import CreditAssessment, CreditRecord
from models.contract import ChangeCustomer, OrderStatus, PlaceOrder
from models.policy import OrderPolicy


class RecordOrder(Message):
    order: PlaceOrder
    placed_at: datetime


class OrderRecorded(Message):
    """The order's total and policy, and its credit check, run in the transaction that wrote the order."""

    order_total_minor: int
    policy: OrderPolicy
    assessment: CreditAssessment


class OrderEvent(Message):
    """An audited fact about an order; ``status`` also updates the order's row, ``dispute`` its dispute."""

    order_id: str
    event: str
    detail: str
    actor: str
    dedupe_key: str
    status: OrderStatus | None = None
    dispute: DisputeRecord | None = None
    credit: CreditRecord | None = None
    release_credit: bool = False


class CloseOrder(Message):
    order_id: str
    status: OrderStatus
    closed_at: datetime


class ChangeCustomerRequest(Message):
    change: ChangeCustomer
    change_id: str
