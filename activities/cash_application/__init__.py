"""Cash application: money received, applied to the invoices it pays.

A receipt is booked to unapplied cash (2100) the moment it is stored: the money is in the bank whether or
not we know whose it is. Applying it writes a ``CashApplication`` first and then signals
``payment_received`` to the order, whose ``apply_payment`` moves the amount from 2100 to receivables. The
application's payment id is the order's dedupe key, so delivering twice is harmless.

Modules: ``allocation`` (a payment on its order's invoices), ``queue`` (the exception queue: money no
invoice took), ``statements`` (bank statements stored), ``matching`` (receipts matched to invoices),
``applications`` (applications delivered to the orders), ``manual`` (finance applying by hand)."""

from activities.cash_application.allocation import PaymentApplicationActivities
from activities.cash_application.applications import ApplicationDeliveryActivities, deliver
from activities.cash_application.manual import CashError, apply_by_hand
from activities.cash_application.matching import ReceiptMatchingActivities
from activities.cash_application.queue import open_receipts, queue_payment, record_unapplied_card_payment
from activities.cash_application.statements import store_statement

__all__ = [
    "ApplicationDeliveryActivities",
    "CashError",
    "PaymentApplicationActivities",
    "ReceiptMatchingActivities",
    "apply_by_hand",
    "deliver",
    "open_receipts",
    "queue_payment",
    "record_unapplied_card_payment",
    "store_statement",
]
