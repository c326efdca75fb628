"""Builds the document of an issued invoice or credit note from the book of record and archives it once."""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities.documents.model import BillingDocument, DocumentLine, Party
from activities.documents.pdf import render_pdf
from activities.documents.ubl import render_ubl
from models.money import from_minor
from models.tables import ArchivedDocument, CreditNote, Customer, Invoice, InvoiceLine, Order, Shipment
from o2c.platform.config import Settings
from o2c.platform.db import insert_new, run_transaction
from o2c.platform.paylinks import payment_link


def terms_text(order: Order, invoice: Invoice) -> str:
    if invoice.due_date <= invoice.issued_on:
        return "Due on receipt"
    text = f"Net {order.net_days} days" + (", end of month" if order.end_of_month else "")
    if invoice.discount_minor and invoice.discount_until:
        text = f"{Decimal(order.discount_percent).normalize():f}% discount within {order.discount_days} days; {text}"
    return text


def seller(settings: Settings) -> Party:
    return Party(
        name=settings.seller_name,
        address_lines=[part.strip() for part in settings.seller_address.split(";") if part.strip()],
        country=settings.seller_country,
        email=settings.mail_from,
        vat_id=settings.seller_vat_id or None,
    )


def buyer(customer: Customer) -> Party:
    address = [part.strip() for part in (customer.billing_address or "").split(",") if part.strip()]
    return Party(
        name=customer.billing_name or customer.name,
        address_lines=address,
        country="",
        email=customer.invoice_email,
        vat_id=customer.vat_id,
    )


def invoice_document(
    session: Session, settings: Settings, invoice: Invoice, lines: Sequence[InvoiceLine] | None = None
) -> BillingDocument:
    """``lines``: the invoice's lines in order, when the caller has just written them."""
    order = session.get(Order, invoice.order_id)
    customer = session.get(Customer, invoice.customer_id)
    assert order is not None
    assert customer is not None
    if lines is None:
        lines = session.exec(
            select(InvoiceLine).where(InvoiceLine.invoice_number == invoice.number).order_by(col(InvoiceLine.line_no))
        ).all()
    shipments = session.exec(
        select(Shipment).where(Shipment.invoice_number == invoice.number).order_by(col(Shipment.dispatched_at))
    ).all()
    return BillingDocument(
        kind="invoice",
        number=invoice.number,
        issued_on=invoice.issued_on,
        currency=invoice.currency,
        order_id=invoice.order_id,
        seller=seller(settings),
        buyer=buyer(customer),
        lines=[
            DocumentLine(
                line_no=line.line_no,
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_price=Decimal(line.unit_price),
                discount_minor=line.discount_minor,
                net_minor=line.net_minor,
                tax_rate_percent=Decimal(line.tax_rate_percent),
                tax_minor=line.tax_minor,
            )
            for line in lines
        ],
        net_minor=invoice.net_minor,
        tax_minor=invoice.tax_minor,
        total_minor=invoice.total_minor,
        due_date=invoice.due_date,
        payment_reference=invoice.payment_reference,
        iban=settings.seller_iban,
        bic=settings.seller_bic,
        terms=terms_text(order, invoice),
        discount_minor=invoice.discount_minor,
        discount_until=invoice.discount_until,
        deliveries=[
            f"Shipment {s.shipment_id}: {s.carrier} {s.tracking_number}, "
            f"dispatched {s.dispatched_at.date().isoformat()}"
            + (f", delivered {s.delivered_at.date().isoformat()}" if s.delivered_at else "")
            for s in shipments
        ],
        delivered_on=max((s.dispatched_at.date() for s in shipments), default=None),
        payment_link=pay_online_link(settings, order, invoice),
    )


def pay_online_link(settings: Settings, order: Order, invoice: Invoice) -> str | None:
    """Bank-transfer invoices carry a link to pay them by card; a card on file is charged anyway. The link
    lasts O2C_PAYMENT_LINK_DAYS from now: each reminder, rendered when it is sent, carries a fresh one."""
    if order.payment_method != "bank_transfer":
        return None
    return payment_link(settings, invoice.number, datetime.now(UTC))


def credit_note_document(
    session: Session, settings: Settings, note: CreditNote, parts: list[tuple[Decimal, int, int]]
) -> BillingDocument:
    """``parts``: (tax rate, net, tax) of the credit, one line per tax rate of the credited invoice."""
    customer = session.get(Customer, note.customer_id)
    assert customer is not None
    return BillingDocument(
        kind="credit_note",
        number=note.number,
        issued_on=note.issued_on,
        currency=note.currency,
        order_id=note.order_id,
        seller=seller(settings),
        buyer=buyer(customer),
        lines=[
            DocumentLine(
                line_no=n,
                sku="CREDIT",
                description=f"Credit on invoice {note.invoice_number} ({rate.normalize():f}% tax)",
                quantity=1,
                unit_price=from_minor(net, note.currency),
                discount_minor=0,
                net_minor=net,
                tax_rate_percent=rate,
                tax_minor=tax,
            )
            for n, (rate, net, tax) in enumerate(parts, start=1)
        ],
        net_minor=note.net_minor,
        tax_minor=note.tax_minor,
        total_minor=note.total_minor,
        credited_invoice=note.invoice_number,
        reason=note.reason,
    )


def rendered(document: BillingDocument) -> ArchivedDocument:
    """The document as it is kept: PDF, UBL XML and the PDF's hash. No database."""
    pdf = render_pdf(document)
    return ArchivedDocument(
        number=document.number,
        kind=document.kind,
        order_id=document.order_id,
        pdf=pdf,
        ubl=render_ubl(document),
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=datetime.now(UTC),
    )


def is_archived(session: Session, number: str) -> bool:
    return session.exec(select(ArchivedDocument.number).where(ArchivedDocument.number == number)).first() is not None


def archive(session: Session, document: BillingDocument) -> ArchivedDocument:
    """Renders and keeps the document in the caller's transaction; one already archived is returned as
    it was."""
    existing = session.get(ArchivedDocument, document.number)
    if existing is not None:
        return existing
    row = rendered(document)
    session.add(row)
    return row


def archive_after_commit(engine: Engine, document: BillingDocument) -> None:
    """Renders the document of a committed invoice outside any transaction, then keeps it once. On
    SQLite (one writer) rendering inside the invoice's transaction held every other write back for as
    long as the PDF took. The invoice's activity calls this before it returns, and a retry after a
    crash in between finds the document missing and comes here again: the email that follows always
    finds it."""
    row = rendered(document).model_dump()
    run_transaction(engine, lambda session: insert_new(session, ArchivedDocument, [row], ["number"]))
