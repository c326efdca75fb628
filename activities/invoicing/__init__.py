"""Invoicing: invoices that bill exactly what shipped, later charges on invoices of their own, gapless
numbers per series and year, and credit notes.

Modules: ``numbering``, ``invoices`` (booking an invoice and the activities that issue one),
``credit_notes``."""

from activities.invoicing.credit_notes import issue_credit_note, split_credit
from activities.invoicing.invoices import InvoicingActivities, as_issued, book_invoice, open_invoices
from activities.invoicing.numbering import next_number

__all__ = [
    "InvoicingActivities",
    "as_issued",
    "book_invoice",
    "issue_credit_note",
    "next_number",
    "open_invoices",
    "split_credit",
]
