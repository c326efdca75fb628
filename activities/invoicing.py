"""Invoices: bill exactly what shipped, with a gapless number, a structured reference and AR postings."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.archive import archive_after_commit, invoice_document, is_archived
from activities.context import business_error, log
from activities.documents import BillingDocument
from activities.orders import audit, load_order, write_shipment
from models.activity_io import ErrorType, InvoiceIssued, IssueCharge, IssueInvoice, LateFeeRaised, RaiseLateFee
from models.contract import OrderStatus
from models.invoicing import HUNDRED, due_date, early_payment_discount, late_fee_minor, line_amounts, rf_reference
from models.money import from_minor, round_money, to_minor
from models.tables import Invoice, InvoiceLine, Order, OrderLine, Shipment, ShipmentLine
from o2c.platform.config import Settings
from o2c.platform.db import insert_rows, run_transaction, transaction


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
        kind=invoice.kind,
    )


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
            return existing, self._unarchived(session, existing), False
        invoice, lines = self._create(session, request)
        return invoice, invoice_document(session, self._settings, invoice, lines), True

    def _unarchived(self, session: Session, invoice: Invoice) -> BillingDocument | None:
        """The document of an invoice booked by an attempt that did not live to archive it."""
        return None if is_archived(session, invoice.number) else invoice_document(session, self._settings, invoice)

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
                invoice, document = existing, self._unarchived(session, existing)
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
        invoice = self._book(session, order, request.charge_key, [line], request.issued_on, False, "charge")
        audit(session, f"charge:{invoice.number}", order.id, "charge_invoiced", request.actor, request.reason)
        return invoice

    @activity.defn(name="raise_late_fee")
    def raise_late_fee(self, request: RaiseLateFee) -> LateFeeRaised:
        """A dunning step's late fee, once per invoice and step, on an invoice of its own, due at once."""
        key = f"late-fee:{request.invoice_number}:{request.step_name}"
        document: BillingDocument | None = None
        with transaction(self._engine) as session:
            existing = session.exec(
                select(Invoice).where(Invoice.order_id == request.order_id, Invoice.invoice_key == key)
            ).first()
            if existing is not None:
                document = self._unarchived(session, existing)
                raised = LateFeeRaised(invoice=as_issued(existing), reason="raised before")
            else:
                raised, invoice = self._late_fee(session, request, key)
                if invoice is not None:
                    document = invoice_document(session, self._settings, invoice)
        self._archive(document)
        if existing is None and raised.invoice is not None:
            log(request.order_id).info(
                "late fee invoiced",
                number=raised.invoice.number,
                total_minor=raised.invoice.total_minor,
                why=raised.reason,
            )
        return raised

    def _late_fee(self, session: Session, request: RaiseLateFee, key: str) -> tuple[LateFeeRaised, Invoice | None]:
        order = load_order(session, request.order_id)
        overdue = session.get(Invoice, request.invoice_number)
        if overdue is None:
            raise business_error(ErrorType.NOTHING_TO_INVOICE, f"no invoice {request.invoice_number}")
        fee, days = late_fee_minor(request.late_fee, overdue.open_minor, overdue.due_date, request.on, order.currency)
        if fee == 0:
            grace = request.late_fee.grace_days
            return LateFeeRaised(invoice=None, reason=f"no fee: {days} day(s) late, grace {grace}"), None
        rate = request.late_fee.tax_rate_percent
        tax = to_minor(round_money(from_minor(fee, order.currency) * rate / HUNDRED, order.currency), order.currency)
        line = InvoiceLine(
            invoice_number="",
            line_no=1,
            sku="LATE-FEE",
            description=f"Late fee on invoice {overdue.number}: {days} days overdue",
            quantity=1,
            unit_price=str(from_minor(fee, order.currency)),
            discount_minor=0,
            net_minor=fee,
            tax_rate_percent=str(rate),
            tax_minor=tax,
        )
        invoice = self._book(session, order, key, [line], request.on, True, "late_fee")
        audit(session, f"late-fee:{invoice.number}", order.id, "late_fee_invoiced", "dunning", line.description)
        return LateFeeRaised(invoice=as_issued(invoice), reason=f"{days} days overdue"), invoice

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
        invoice = self._book(
            session, order, request.invoice_key, invoice_lines, request.issued_on, request.due_now, "goods", shipments
        )
        order.credit_reserved_minor = max(0, order.credit_reserved_minor - invoice.total_minor)
        order.status = OrderStatus.INVOICED.value
        session.add(order)
        return invoice, invoice_lines

    def _book(
        self,
        session: Session,
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
        sequence = next_number(session, self._series, issued_on.year)
        number = f"{self._series}-{issued_on.year}-{sequence:06d}"
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
