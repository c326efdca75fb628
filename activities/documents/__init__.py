"""Invoice and credit-note documents: a PDF for people (fpdf2) and a UBL 2.1 / EN 16931 XML for machines.

Rendering is pure: a ``BillingDocument`` in, bytes out. The invoicing activities render once, when the
document is issued, and archive the bytes (``billing_documents``); every email and resend attaches the
archived file, so a customer always receives exactly the document that was issued.

Modules: ``model`` (the document), ``pdf`` and ``ubl`` (pure renderers), ``archive`` (a document built
from the book of record and kept once)."""

from activities.documents.archive import (
    archive_after_commit,
    credit_note_document,
    invoice_document,
    is_archived,
    pay_online_link,
)
from activities.documents.model import BillingDocument, DocumentLine, Party
from activities.documents.pdf import render_pdf
from activities.documents.ubl import CAC, CBC, render_ubl

__all__ = [
    "CAC",
    "CBC",
    "BillingDocument",
    "DocumentLine",
    "Party",
    "archive_after_commit",
    "credit_note_document",
    "invoice_document",
    "is_archived",
    "pay_online_link",
    "render_pdf",
    "render_ubl",
]
