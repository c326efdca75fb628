"""Late fees: once per overdue invoice and dunning step, on an invoice of their own, due at once."""

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities.context import business_error, log
from activities.documents.archive import archive_after_commit, invoice_document
from activities.documents.model import BillingDocument
from activities.invoicing.invoices import as_issued, book_invoice, unarchived_document
from activities.records import audit, load_order
from models.activity_io import ErrorType, LateFeeRaised, RaiseLateFee
from models.invoicing import HUNDRED, late_fee_minor
from models.money import from_minor, round_money, to_minor
from models.tables import Invoice, InvoiceLine
from o2c.platform.config import Settings
from o2c.platform.db import transaction


class LateFeeActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

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
                document = unarchived_document(session, self._settings, existing)
                raised = LateFeeRaised(invoice=as_issued(existing), reason="raised before")
            else:
                raised, invoice = self._late_fee(session, request, key)
                if invoice is not None:
                    document = invoice_document(session, self._settings, invoice)
        if document is not None:
            archive_after_commit(self._engine, document)
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
        invoice = book_invoice(session, self._settings.invoice_series, order, key, [line], request.on, True, "late_fee")
        audit(session, f"late-fee:{invoice.number}", order.id, "late_fee_invoiced", "dunning", line.description)
        return LateFeeRaised(invoice=as_issued(invoice), reason=f"{days} days overdue"), invoice
