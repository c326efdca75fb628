"""Invoices: bill exactly what shipped, with a gapless number, a structured reference and AR postings."""

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.context import business_error, log
from activities.orders import audit, load_order
from models.activity_io import ErrorType, InvoiceIssued, IssueInvoice
from models.contract import OrderStatus
from models.invoicing import due_date, early_payment_discount, line_amounts, rf_reference
from models.tables import Invoice, InvoiceLine, OrderLine, Shipment, ShipmentLine
from o2c.db import transaction


def next_number(session: Session, series: str, year: int) -> int:
    """Moves the series counter inside the caller's transaction: a rollback gives the number back."""
    session.execute(
        text(
            "INSERT INTO number_series (series, year, last_value) VALUES (:series, :year, 0) "
            "ON CONFLICT (series, year) DO NOTHING"
        ),
        {"series": series, "year": year},
    )
    value = session.execute(
        text(
            "UPDATE number_series SET last_value = last_value + 1 "
            "WHERE series = :series AND year = :year RETURNING last_value"
        ),
        {"series": series, "year": year},
    ).scalar_one()
    return int(value)


def as_issued(invoice: Invoice) -> InvoiceIssued:
    return InvoiceIssued(
        number=invoice.number,
        total_minor=invoice.total_minor,
        issued_on=invoice.issued_on,
        due_date=invoice.due_date,
        payment_reference=invoice.payment_reference,
        discount_minor=invoice.discount_minor,
        discount_until=invoice.discount_until,
    )


class InvoicingActivities:
    def __init__(self, engine: Engine, series: str) -> None:
        self._engine = engine
        self._series = series

    @activity.defn(name="issue_invoice")
    def issue_invoice(self, request: IssueInvoice) -> InvoiceIssued:
        with transaction(self._engine) as session:
            existing = session.exec(
                select(Invoice).where(Invoice.order_id == request.order_id, Invoice.invoice_key == request.invoice_key)
            ).first()
            if existing is not None:
                return as_issued(existing)
            invoice = self._create(session, request)
        log(request.order_id).info("invoice issued", number=invoice.number, total_minor=invoice.total_minor)
        return as_issued(invoice)

    def _create(self, session: Session, request: IssueInvoice) -> Invoice:
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
        sequence = next_number(session, self._series, request.issued_on.year)
        number = f"{self._series}-{request.issued_on.year}-{sequence:06d}"
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
                    invoice_number=number,
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
        net = sum(line.net_minor for line in invoice_lines)
        tax = sum(line.tax_minor for line in invoice_lines)
        # Due at once after credit was withdrawn (re-check rejected): no terms, no early-payment discount.
        discount, discount_until = (
            (0, None)
            if request.due_now
            else early_payment_discount(
                net + tax, Decimal(order.discount_percent), order.discount_days, request.issued_on, order.currency
            )
        )
        invoice = Invoice(
            number=number,
            order_id=order.id,
            customer_id=order.customer_id,
            invoice_key=request.invoice_key,
            currency=order.currency,
            net_minor=net,
            tax_minor=tax,
            total_minor=net + tax,
            open_minor=net + tax,
            discount_minor=discount,
            discount_until=discount_until,
            issued_on=request.issued_on,
            due_date=(
                request.issued_on
                if request.due_now
                else due_date(request.issued_on, order.net_days, order.end_of_month)
            ),
            payment_reference=rf_reference(number.replace("-", "")[-21:]),
            status="open",
            created_at=datetime.now(UTC),
        )
        session.add(invoice)
        session.flush()
        session.add_all(invoice_lines)
        for shipment in shipments:
            shipment.invoice_number = number
            session.add(shipment)
        order.credit_reserved_minor = max(0, order.credit_reserved_minor - invoice.total_minor)
        order.status = OrderStatus.INVOICED.value
        session.add(order)
        ledger.post(
            session,
            f"invoice:{number}",
            order.currency,
            [
                ledger.Posting(ledger.RECEIVABLES, debit_minor=net + tax),
                ledger.Posting(ledger.REVENUE, credit_minor=net),
                ledger.Posting(ledger.TAX_PAYABLE, credit_minor=tax),
            ],
            order_id=order.id,
            invoice_number=number,
        )
        audit(
            session,
            f"invoice:{number}",
            order.id,
            "invoice_issued",
            "workflow",
            f"{number} total {net + tax}",
        )
        return invoice
