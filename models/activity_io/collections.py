"""Collections: dunning steps, late fees and disputes as recorded on an order."""

from datetime import date

from models.activity_io.base import Message
from models.activity_io.invoicing import InvoiceIssued
from models.policy import LateFee


class DisputeRecord(Message):
    dispute_id: str
    amount_minor: int
    reason: str
    status: str
    by: str


class DunningStepRun(Message):
    order_id: str
    invoice_number: str
    step_name: str
    level: int
    template: str
    escalate: bool
    amount_due_minor: int
    due_date: date
    remind: bool = True
    block_credit: bool = False


class RaiseLateFee(Message):
    order_id: str
    invoice_number: str
    step_name: str
    late_fee: LateFee
    on: date


class LateFeeRaised(Message):
    invoice: InvoiceIssued | None
    reason: str
