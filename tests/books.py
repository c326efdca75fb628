"""The invariants of the books, checked by the ledger's property test and the cash-application tests."""

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from activities import ledger
from models.tables import CashReceipt, Invoice, LedgerEntry, Payment


def check_books(engine: Any) -> dict[str, dict[str, int]]:
    """Per currency: the trial balance is zero, receivables equal the open invoices, unapplied cash equals
    the money received and not yet applied (customers' credit on payments and on receipts); no journal line
    is written twice. Returns each currency's balances by account."""
    balances: dict[str, dict[str, int]] = {}
    with Session(engine) as session:
        for currency, account, balance in session.exec(
            select(
                LedgerEntry.currency,
                LedgerEntry.account,
                func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor),
            ).group_by(LedgerEntry.currency, LedgerEntry.account)
        ):
            balances.setdefault(currency, {})[account] = int(balance)
        for currency, accounts in balances.items():
            assert sum(accounts.values()) == 0, f"{currency} does not balance"
            open_total = session.exec(
                select(func.coalesce(func.sum(Invoice.open_minor), 0)).where(Invoice.currency == currency)
            ).one()
            assert accounts.get(ledger.RECEIVABLES, 0) == open_total, f"{currency} receivables"
            held = session.exec(
                select(func.coalesce(func.sum(Payment.unapplied_minor), 0)).where(Payment.currency == currency)
            ).one()
            receipts = session.exec(
                select(func.coalesce(func.sum(CashReceipt.unapplied_minor), 0)).where(
                    CashReceipt.currency == currency, CashReceipt.amount_minor > 0
                )
            ).one()
            assert -accounts.get(ledger.UNAPPLIED_CASH, 0) == held + receipts, f"{currency} unapplied"
        doubled = session.exec(
            select(LedgerEntry.journal, LedgerEntry.line_no)
            .group_by(LedgerEntry.journal, LedgerEntry.line_no)
            .having(func.count() > 1)
        ).all()
        assert not doubled
    return balances
