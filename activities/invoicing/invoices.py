"""Invoices: bill exactly what shipped, with a gapless number, a structured reference and AR postings."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.context import business_error, log
from activities.documents.archive import archive_after_commit, invoice_document, is_archived
from activities.documents.model import BillingDocument
from activities.fulfillment import write_shipment
from activities.invoicing.numbering import next_number
from activities.records import audit, load_order
from models.activity_io import ErrorType, InvoiceIssued, IssueCharge, IssueInvoice
from models.contract import OrderStatus
from models.invoicing import HUNDRED, due_date, early_payment_discount, line_amounts, rf_reference
from models.money import from_minor, round_money, to_minor
from models.tables import Invoice, InvoiceLine, Order, OrderLine, Shipment, ShipmentLine
from o2c.platform.config import Settings
from o2c.platform.db import insert_rows, run_transaction, transaction


def as_issued(invoice: Invoice) -> InvoiceIssued:
    return InvoiceIssued(
        number=invoice.number,
        total_minor=invoice.total_minor,
        issued_on=invoice.issued_on,
        due_date=invoice.due_date,
        payment_reference=invoice.payment_reference,
        discount_minor=invoice.discount_minor,
        discount_until=invoice.discount_until,
        kind=invoice.kind,
    )


def open_invoices(session: Session, order_id: str) -> list[Invoice]:
    return list(
        session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
        ).all()
    )


def book_invoice(
    session: Session,
    series: str,
    order: Order,
    key: str,
    lines: list[InvoiceLine],
    issued_on: date,
    due_now: bool,
    kind: str,
    shipments: Sequence[Shipment] = (),
) -> Invoice:
    """Numbers, totals and posts one invoice, all in the caller's transaction; the caller archives its
    document after the commit (``archive_after_commit``)."""
    sequence = next_number(session, series, issued_on.year)
    number = f"{series}-{issued_on.year}-{sequence:06d}"
    net = sum(line.net_minor for line in lines)
    tax = sum(line.tax_minor for line in lines)
    # Due at once after credit was withdrawn (re-check rejected): no terms, no early-payment discount.
    discount, discount_until = (
        (0, None)
        if due_now
        else early_payment_discount(
            net + tax, Decimal(order.discount_percent), order.discount_days, issued_on, order.currency
        )
    )
    invoice = Invoice(
        number=number,
        order_id=order.id,
        customer_id=order.customer_id,
        invoice_key=key,
        currency=order.currency,
        net_minor=net,
        tax_minor=tax,
        total_minor=net + tax,
        open_minor=net + tax,
        discount_minor=discount,
        discount_until=discount_until,
        issued_on=issued_on,
        due_date=issued_on if due_now else due_date(issued_on, order.net_days, order.end_of_month),
        payment_reference=rf_reference(number.replace("-", "")[-21:]),
        status="open",
        kind=kind,
        created_at=datetime.now(UTC),
    )
    session.add(invoice)
    for line in lines:
        line.invoice_number = number
    # One statement for the lines (the invoice row is flushed before it: they refer to it).
    insert_rows(session, InvoiceLine, [line.model_dump(exclude={"id"}) for line in lines])
    for shipment in shipments:
        shipment.invoice_number = number
        session.add(shipment)
    ledger.post(
        session,
        f"invoice:{number}",
        order.currency,
        [
            ledger.Posting(ledger.RECEIVABLES, debit_minor=net + tax),
            ledger.Posting(ledger.REVENUE if kind == "goods" else ledger.OTHER_INCOME, credit_minor=net),
            ledger.Posting(ledger.TAX_PAYABLE, credit_minor=tax),
        ],
        order_id=order.id,
        invoice_number=number,
    )
    audit(session, f"invoice:{number}", order.id, "invoice_issued", "workflow", f"{number} total {net + tax}")
    return invoice


def unarchived_document(session: Session, settings: Settings, invoice: Invoice) -> BillingDocument | None:
    """The document of an invoice booked by an attempt that did not live to archive it."""
    return None if is_archived(session, invoice.number) else invoice_document(session, settings, invoice)


class InvoicingActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._series = settings.invoice_series

    @activity.defn(name="issue_invoice")
    def issue_invoice(self, request: IssueInvoice) -> InvoiceIssued:
        invoice, document, new = run_transaction(self._engine, partial(self._issue, request=request))
        self._archive(document)
        if new:
            log(request.order_id).info("invoice issued", number=invoice.number, total_minor=invoice.total_minor)
        return as_issued(invoice)

    def _issue(self, session: Session, request: IssueInvoice) -> tuple[Invoice, BillingDocument | None, bool]:
        """The shipments it bills (when the workflow folded them in), and the invoice once per key, with
        its document still to archive, and whether it was issued just now."""
        for shipment in request.record_shipments:
            write_shipment(session, shipment)
        existing = session.exec(
            select(Invoice).where(Invoice.order_id == request.order_id, Invoice.invoice_key == request.invoice_key)
        ).first()
        if existing is not None:
            return existing, unarchived_document(session, self._settings, existing), False
        invoice, lines = self._create(session, request)
        return invoice, invoice_document(session, self._settings, invoice, lines), True

    def _archive(self, document: BillingDocument | None) -> None:
        if document is not None:
            archive_after_commit(self._engine, document)

    @activity.defn(name="issue_charge")
    def issue_charge(self, request: IssueCharge) -> InvoiceIssued:
        """A later charge on its own invoice: an invoice already sent is never edited."""
        with transaction(self._engine) as session:
            existing = session.exec(
                select(Invoice).where(Invoice.order_id == request.order_id, Invoice.invoice_key == request.charge_key)
            ).first()
            if existing is not None:
                invoice, document = existing, unarchived_document(session, self._settings, existing)
            else:
                invoice = self._charge(session, request)
                document = invoice_document(session, self._settings, invoice)
        self._archive(document)
        if existing is None:
            log(request.order_id).info("charge invoiced", number=invoice.number, total_minor=invoice.total_minor)
        return as_issued(invoice)

    def _charge(self, session: Session, request: IssueCharge) -> Invoice:
        order = load_order(session, request.order_id)
        rate = Decimal(request.tax_rate_percent)
        tax = to_minor(
            round_money(from_minor(request.amount_minor, order.currency) * rate / HUNDRED, order.currency),
            order.currency,
        )
        line = InvoiceLine(
            invoice_number="",
            line_no=1,
            sku="CHARGE",
            description=request.description,
            quantity=1,
            unit_price=str(from_minor(request.amount_minor, order.currency)),
            discount_minor=0,
            net_minor=request.amount_minor,
            tax_rate_percent=request.tax_rate_percent,
            tax_minor=tax,
        )
        invoice = book_invoice(
            session, self._series, order, request.charge_key, [line], request.issued_on, False, "charge"
        )
        audit(session, f"charge:{invoice.number}", order.id, "charge_invoiced", request.actor, request.reason)
        return invoice

    def _create(self, session: Session, request: IssueInvoice) -> tuple[Invoice, list[InvoiceLine]]:
        order = load_order(session, request.order_id)
        shipments = session.exec(
            select(Shipment).where(
                Shipment.order_id == request.order_id,
                col(Shipment.shipment_id).in_(request.shipment_ids),
                col(Shipment.exception).is_(None),
                col(Shipment.invoice_number).is_(None),
            )
        ).all()
        shipped: Counter[str] = Counter()
        for shipment in shipments:
            for shipped_line in session.exec(select(ShipmentLine).where(ShipmentLine.shipment_row_id == shipment.id)):
                shipped[shipped_line.sku] += shipped_line.quantity
        if not shipped:
            raise business_error(
                ErrorType.NOTHING_TO_INVOICE, f"no uninvoiced shipments {request.shipment_ids} on {order.id}"
            )
        invoice_lines: list[InvoiceLine] = []
        ordered = session.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.line_no))
        ).all()
        for line in ordered:
            quantity = shipped.get(line.sku, 0)
            if quantity == 0:
                continue
            amounts = line_amounts(
                quantity,
                Decimal(line.unit_price),
                Decimal(line.discount_percent),
                Decimal(line.tax_rate_percent),
                order.currency,
            )
            invoice_lines.append(
                InvoiceLine(
                    invoice_number="",
                    line_no=len(invoice_lines) + 1,
                    sku=line.sku,
                    description=line.description,
                    quantity=quantity,
                    unit_price=line.unit_price,
                    discount_minor=amounts.discount_minor,
                    net_minor=amounts.net_minor,
                    tax_rate_percent=line.tax_rate_percent,
                    tax_minor=amounts.tax_minor,
                )
            )
        invoice = book_invoice(
            session,
            self._series,
            order,
            request.invoice_key,
            invoice_lines,
            request.issued_on,
            request.due_now,
            "goods",
            shipments,
        )
        order.credit_reserved_minor = max(0, order.credit_reserved_minor - invoice.total_minor)
        order.status = OrderStatus.INVOICED.value
        session.add(order)
        return invoice, invoice_lines
