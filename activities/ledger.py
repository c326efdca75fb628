"""Double-entry postings. A journal is written whole, once: its (journal, line_no) rows are unique."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from models.tables import LedgerEntry
from o2c.platform.db import insert_new

CASH = "1000-cash"
RECEIVABLES = "1100-receivables"
CHARGEBACKS = "1150-chargebacks-in-dispute"
UNAPPLIED_CASH = "2100-unapplied-cash"
TAX_PAYABLE = "2200-tax-payable"
REVENUE = "4000-revenue"
SALES_RETURNS = "4100-credit-notes"
DISCOUNTS_GIVEN = "4200-early-payment-discounts"
OTHER_INCOME = "4300-fees-and-surcharges"
BAD_DEBT = "6100-bad-debt-expense"
CHARGEBACK_LOSSES = "6200-chargeback-losses"


@dataclass(frozen=True)
class Posting:
    account: str
    debit_minor: int = 0
    credit_minor: int = 0


class UnbalancedJournal(ValueError):
    pass


def post(
    session: Session,
    journal: str,
    currency: str,
    postings: list[Posting],
    order_id: str | None = None,
    invoice_number: str | None = None,
) -> bool:
    """Writes the journal unless it exists; returns whether it wrote. Zero lines are left out."""
    lines = [p for p in postings if p.debit_minor or p.credit_minor]
    if sum(p.debit_minor for p in lines) != sum(p.credit_minor for p in lines):
        raise UnbalancedJournal(f"journal {journal} does not balance: {lines}")
    if not lines:
        return session.exec(select(LedgerEntry.id).where(LedgerEntry.journal == journal)).first() is None
    now = datetime.now(UTC)
    rows = [
        {
            "journal": journal,
            "line_no": line_no,
            "account": p.account,
            "debit_minor": p.debit_minor,
            "credit_minor": p.credit_minor,
            "currency": currency,
            "order_id": order_id,
            "invoice_number": invoice_number,
            "posted_at": now,
        }
        for line_no, p in enumerate(lines, start=1)
    ]
    # One statement; a journal written before (a retried step) takes its (journal, line_no) and is skipped.
    return insert_new(session, LedgerEntry, rows, ["journal", "line_no"]) > 0


def transfer(
    session: Session,
    journal: str,
    currency: str,
    amount_minor: int,
    debit: str,
    credit: str,
    order_id: str | None = None,
    invoice_number: str | None = None,
) -> bool:
    """A two-line journal: the amount out of ``credit`` into ``debit``."""
    return post(
        session,
        journal,
        currency,
        [Posting(debit, debit_minor=amount_minor), Posting(credit, credit_minor=amount_minor)],
        order_id=order_id,
        invoice_number=invoice_number,
    )
