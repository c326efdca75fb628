"""``o2c report`` from SQL aggregates gives the figures it gave when it loaded every customer, open invoice,
receipt and cash application into Python: that implementation is kept here, as the oracle, and both run on
SQLite and PostgreSQL over test_trends' book (two currencies, receipts, applications, a write-off, a credit
note, the ledger) with more customers whose invoices sit on each bucket's first and last day past due, a
customer billed under another name, and two customers whose totals tie."""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from activities import ledger
from models.tables import CashApplication, CashReceipt, Customer, Invoice, LedgerEntry
from o2c.platform.db import transaction
from o2c.reporting.reports import AgingRow, MatchRates, Report, bucket, build_report, kpis, render
from tests.seed import add_customer
from tests.support import Database
from tests.test_trends import A, seed_book

# Days past due on A of each extra customer's open invoices: the edges of every bucket, and two equal totals.
PAST_DUE = {
    "C2": (-30, 0, 1, 30),
    "C3": (31, 60, 61, 90, 91, 400),
    "C4": (5, 5),
    "C5": (45,),
}


def old_build_report(engine: Engine, as_of: date, days: int) -> Report:
    """``build_report`` as it was before it aggregated in SQL (git history: o2c/reporting/reports.py)."""
    start = datetime.combine(as_of - timedelta(days=days), time(), UTC)
    with Session(engine) as session:
        names = {c.id: c.billing_name or c.name for c in session.exec(select(Customer))}
        rows: dict[tuple[str, str], AgingRow] = {}
        current: dict[str, int] = defaultdict(int)
        closing: dict[str, int] = defaultdict(int)
        for invoice in session.exec(select(Invoice).where(Invoice.open_minor > 0)):
            key = (invoice.customer_id, invoice.currency)
            row = rows.setdefault(
                key, AgingRow(invoice.customer_id, names.get(invoice.customer_id, ""), invoice.currency)
            )
            label = bucket((as_of - invoice.due_date).days)
            row.buckets[label] += invoice.open_minor
            closing[invoice.currency] += invoice.open_minor
            if label == "current":
                current[invoice.currency] += invoice.open_minor
        sales: dict[str, int] = defaultdict(int)
        for currency, total in session.exec(
            select(Invoice.currency, func.sum(Invoice.total_minor))
            .where(Invoice.issued_on > as_of - timedelta(days=days), Invoice.issued_on <= as_of)
            .group_by(Invoice.currency)
        ):
            sales[currency] = int(total)
        opening: dict[str, int] = defaultdict(int)
        for currency, balance in session.exec(
            select(LedgerEntry.currency, func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor))
            .where(LedgerEntry.account == ledger.RECEIVABLES, LedgerEntry.posted_at < start)
            .group_by(LedgerEntry.currency)
        ):
            opening[currency] = int(balance)
        matching = _old_match_rates(session)
    currencies = sorted(set(sales) | set(closing) | set(opening))
    return Report(
        as_of,
        sorted(rows.values(), key=lambda r: (r.currency, -r.total)),
        [kpis(c, days, opening[c], sales[c], closing[c], current[c]) for c in currencies],
        matching,
    )


def _old_match_rates(session: Session) -> MatchRates:
    receipts = session.exec(select(CashReceipt).where(CashReceipt.amount_minor > 0)).all()
    sources: dict[str, set[str]] = defaultdict(set)
    invoices_by: dict[str, set[str]] = defaultdict(set)
    for application in session.exec(select(CashApplication).where(col(CashApplication.status) != "refused")):
        kind = "manual" if application.source == "manual" else "auto"
        sources[application.receipt_id].add(kind)
        for number in application.invoice_numbers.split():
            invoices_by[number].add(kind)
    automatic = sum(1 for r in receipts if "auto" in sources.get(r.id, ()))
    by_hand = sum(1 for r in receipts if sources.get(r.id) == {"manual"})
    return MatchRates(
        receipts=len(receipts),
        automatic=automatic,
        by_hand=by_hand,
        waiting=len(receipts) - automatic - by_hand,
        invoices=len(invoices_by),
        invoices_automatic=sum(1 for kinds in invoices_by.values() if kinds == {"auto"}),
    )


def seed_customers(db: Database) -> None:
    add_customer(db, id="C2", name="Globex")
    add_customer(db, id="C3", name="Umbrella", billing_name="Umbrella Corp. Accounts Payable")
    add_customer(db, id="C4", name="Hooli", currency="EUR")
    add_customer(db, id="C5", name="Soylent")
    with transaction(db.engine) as session:
        for customer_id, past_due in PAST_DUE.items():
            currency = "EUR" if customer_id in ("C4", "C5") else "USD"
            for n, days in enumerate(past_due):
                number = f"{customer_id}-{n}"
                session.add(
                    Invoice(
                        number=number,
                        order_id=f"O-{currency}",
                        customer_id=customer_id,
                        invoice_key=number,
                        currency=currency,
                        net_minor=100_00,
                        tax_minor=0,
                        total_minor=100_00,
                        open_minor=30_00 if customer_id == "C5" else 10_00 * (n + 1),
                        issued_on=A - timedelta(days=days + 30),
                        due_date=A - timedelta(days=days),
                        payment_reference=f"RF-{number}",
                        status="open",
                        created_at=datetime.combine(A - timedelta(days=days + 30), time(9), UTC),
                    )
                )


@pytest.mark.parametrize("as_of", [A, A - timedelta(days=45), A + timedelta(days=100)])
def test_the_report_from_aggregates_is_the_one_from_rows(database: Database, as_of: date) -> None:
    seed_book(database, A)
    seed_customers(database)
    new = build_report(database.engine, as_of, 30)
    old = old_build_report(database.engine, as_of, 30)
    # The old report left customers with equal totals in the database's order; now the customer id decides.
    old.aging.sort(key=lambda r: (r.currency, -r.total, r.customer_id))
    assert new == old
    assert render(new) == render(old)
    assert len(new.aging) == 6 and new.matching == MatchRates(7, 3, 3, 1, 6, 2)
    if as_of == A:
        umbrella = next(r for r in new.aging if r.customer_id == "C3")
        assert umbrella.name == "Umbrella Corp. Accounts Payable"
        assert list(umbrella.buckets.values()) == [0, 0, 10_00 + 20_00, 30_00 + 40_00, 50_00 + 60_00]
        globex = next(r for r in new.aging if r.customer_id == "C2")
        assert list(globex.buckets.values()) == [10_00 + 20_00, 30_00 + 40_00, 0, 0, 0]
        assert [r.customer_id for r in new.aging if r.currency == "EUR"] == ["C1", "C4", "C5"]  # 80, 10 + 20, 30
