"""Credit notes: numbered in their own series, the tax reversed alongside the net, posted and archived
as PDF and UBL like an invoice."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, select

from activities import ledger
from activities.documents.archive import archive, credit_note_document
from activities.invoicing.numbering import next_number
from models.activity_io import AdjustBalance
from models.invoicing import HUNDRED
from models.tables import CreditNote, Invoice, InvoiceLine
from o2c.platform.config import Settings


def issue_credit_note(
    session: Session,
    settings: Settings,
    request: AdjustBalance,
    invoice: Invoice,
    amount: int,
    issued_on: date,
    credit_account: str = ledger.RECEIVABLES,
) -> str:
    """Numbers, posts and archives one credit note. It reduces what the customer owes on the invoice
    (``RECEIVABLES``) or, for an invoice already paid, becomes the customer's credit (``UNAPPLIED_CASH``)."""
    sequence = next_number(session, settings.credit_note_series, issued_on.year)
    number = f"{settings.credit_note_series}-{issued_on.year}-{sequence:06d}"
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_number == invoice.number)).all()
    parts = split_credit(
        amount,
        invoice.total_minor,
        [(Decimal(x.tax_rate_percent), x.net_minor + x.tax_minor) for x in lines],
        invoice.currency,
    )
    net = sum(p[1] for p in parts)
    tax = sum(p[2] for p in parts)
    note = CreditNote(
        number=number,
        dedupe_key=request.dedupe_key,
        invoice_number=invoice.number,
        order_id=invoice.order_id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        net_minor=net,
        tax_minor=tax,
        total_minor=amount,
        reason=request.reason,
        actor=request.actor,
        issued_on=issued_on,
        created_at=datetime.now(UTC),
    )
    session.add(note)
    session.flush()
    ledger.post(
        session,
        f"credit_note:{number}",
        invoice.currency,
        [
            ledger.Posting(ledger.SALES_RETURNS, debit_minor=net),
            ledger.Posting(ledger.TAX_PAYABLE, debit_minor=tax),
            ledger.Posting(credit_account, credit_minor=amount),
        ],
        order_id=invoice.order_id,
        invoice_number=invoice.number,
    )
    archive(session, credit_note_document(session, settings, note, parts))
    return number


def split_credit(
    amount_minor: int, invoice_total_minor: int, gross_by_line: list[tuple[Decimal, int]], currency: str
) -> list[tuple[Decimal, int, int]]:
    """Splits a credit over the invoice's tax rates in proportion to their gross, then each share into net
    and tax at its rate: [(rate, net, tax)], summing exactly to the amount (the last rate takes the rest)."""
    by_rate: dict[Decimal, int] = {}
    for rate, gross in gross_by_line:
        by_rate[rate] = by_rate.get(rate, 0) + gross
    rates = sorted(by_rate)
    parts = []
    left = amount_minor
    for index, rate in enumerate(rates):
        if index == len(rates) - 1:
            share = left
        else:
            share = int((Decimal(amount_minor) * by_rate[rate] / invoice_total_minor).to_integral_value(ROUND_HALF_UP))
        left -= share
        tax = int((Decimal(share) * rate / (HUNDRED + rate)).to_integral_value(ROUND_HALF_UP))
        parts.append((rate, share - tax, tax))
    return [p for p in parts if p[1] or p[2]] or [(rates[0] if rates else Decimal(0), amount_minor, 0)]
