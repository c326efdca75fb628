"""Issuing invoices and later charges."""

from datetime import date

from models.activity_io.base import Message
from models.activity_io.fulfillment import RecordShipment


class IssueInvoice(Message):
    order_id: str
    invoice_key: str
    shipment_ids: list[str]
    issued_on: date
    due_now: bool = False
    # Shipments the workflow held back, written first in the invoice's own transaction: one local activity
    # where there would be two.
    record_shipments: list[RecordShipment] = []


class InvoiceIssued(Message):
    number: str
    total_minor: int
    issued_on: date
    due_date: date
    payment_reference: str
    discount_minor: int
    discount_until: date | None
    kind: str = "goods"


class IssueCharge(Message):
    """A charge that came up after invoicing (a late fee, a surcharge): always an invoice of its own."""

    order_id: str
    charge_key: str
    description: str
    amount_minor: int
    tax_rate_percent: str
    reason: str
    actor: str
    issued_on: date
