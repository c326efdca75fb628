"""The dashboard's figures (o2c.reporting.trends), as SQL aggregates on SQLite and PostgreSQL, on a small book
whose every figure is worked out by hand below: aging and KPIs as ``o2c report`` gives them, the KPIs at
past days as the book stood then, invoices and cash per day (a UTC day's last minutes included, the next
day's first excluded), match rates over every receipt and over a period, and the queue of unapplied cash.

The book, as of day A (2026-11-23 here; today in the console's tests), in USD and EUR:
- U4 250.00 issued A-175, due A-145, 50.00 written off A-114, 10.00 paid A-22 (receipt R8, by hand): 190.00 open;
- E2 40.00 issued A-131, due A-101, paid A-85 (R3: an automatic application refused, then one by hand);
- U1 1,000.00 issued A-83, due A-53, paid early A-64 (R2, by hand);
- U2 500.00 issued A-44, due A-14, open (R7's pending applications name it: automatic, with U4, and by hand);
- E1 80.00 issued A-21, due A-1, open (R5's pending automatic application of 20.00; 5.00 of R5 unapplied);
- U3 300.00 and U5 200.00 issued A-3, due A+27: U3 100.00 paid A-2 at 23:30 UTC (R1, automatic),
  U5 20.00 credited A-3;
- R4 70.00 booked A-1 waits unapplied; R6 is a debit line (not a receipt); a chargeback took 12.00 out of
  cash A-34 and gave it back A-30 at 23:59:59 UTC.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from activities import ledger
from models.tables import (
    BalanceAdjustment,
    CashApplication,
    CashReceipt,
    Invoice,
    LedgerEntry,
    Payment,
    PaymentApplication,
)
from o2c.platform.db import snapshot, transaction
from o2c.reporting.reports import BUCKETS, Kpis, MatchRates, build_report
from o2c.reporting.trends import (
    DayTotal,
    QueueTotal,
    aging,
    cash_collected,
    headline_kpis,
    invoices_issued,
    kpi_trend,
    match_rates,
    month_ends,
    unapplied_queue,
)
from tests.seed import add_customer, add_order
from tests.support import Database

A = date(2026, 11, 23)


def _at(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), UTC)


def _journal(session: Session, journal: str, currency: str, at: datetime, *lines: tuple[str, int, int]) -> None:
    for n, (account, debit, credit) in enumerate(lines, start=1):
        session.add(
            LedgerEntry(
                journal=journal,
                line_no=n,
                account=account,
                debit_minor=debit,
                credit_minor=credit,
                currency=currency,
                posted_at=at,
            )
        )


def book_invoice(session: Session, number: str, currency: str, total: int, open_: int, issued: date, due: date) -> None:
    session.add(
        Invoice(
            number=number,
            order_id=f"O-{currency}",
            customer_id="C1",
            invoice_key=number,
            currency=currency,
            net_minor=total,
            tax_minor=0,
            total_minor=total,
            open_minor=open_,
            issued_on=issued,
            due_date=due,
            payment_reference=f"RF-{number}",
            status="open" if open_ else "paid",
            created_at=_at(issued),
        )
    )
    _journal(
        session,
        f"invoice:{number}",
        currency,
        _at(issued, 10),
        (ledger.RECEIVABLES, total, 0),
        (ledger.REVENUE, 0, total),
    )


def _receipt(
    session: Session, receipt_id: str, currency: str, amount: int, unapplied: int, status: str, booked: datetime
) -> None:
    session.add(
        CashReceipt(
            id=receipt_id,
            source="bank",
            booked_on=booked.date(),
            amount_minor=amount,
            unapplied_minor=unapplied,
            currency=currency,
            status=status,
            created_at=booked,
        )
    )
    if amount > 0:
        _journal(
            session,
            f"receipt:{receipt_id}",
            currency,
            booked,
            (ledger.CASH, amount, 0),
            (ledger.UNAPPLIED_CASH, 0, amount),
        )


def _application(
    session: Session, receipt_id: str, numbers: str, amount: int, currency: str, source: str, status: str, at: datetime
) -> None:
    """An application of a receipt; delivered, its payment reaches the (first) invoice it names."""
    payment_id = f"{receipt_id}-{source}-{status}"
    session.add(
        CashApplication(
            receipt_id=receipt_id,
            payment_id=payment_id,
            order_id=f"O-{currency}",
            amount_minor=amount,
            currency=currency,
            invoice_numbers=numbers,
            source=source,
            actor="test",
            status=status,
            created_at=at,
        )
    )
    if status != "delivered":
        return
    session.add(
        Payment(
            id=payment_id,
            order_id=f"O-{currency}",
            customer_id="C1",
            amount_minor=amount,
            unapplied_minor=0,
            currency=currency,
            method="bank_transfer",
            received_at=at,
        )
    )
    session.flush()
    session.add(
        PaymentApplication(payment_id=payment_id, invoice_number=numbers.split()[0], amount_minor=amount, applied_at=at)
    )
    _journal(
        session,
        f"payment:{payment_id}",
        currency,
        at,
        (ledger.UNAPPLIED_CASH, amount, 0),
        (ledger.RECEIVABLES, 0, amount),
    )


def _adjustment(session: Session, number: str, kind: str, amount: int, currency: str, at: datetime) -> None:
    session.add(
        BalanceAdjustment(
            dedupe_key=f"{kind}-{number}",
            kind=kind,
            order_id=f"O-{currency}",
            invoice_number=number,
            amount_minor=amount,
            reason="test",
            actor="test",
            created_at=at,
        )
    )
    other = ledger.BAD_DEBT if kind == "write_off" else ledger.SALES_RETURNS
    _journal(session, f"{kind}:{number}", currency, at, (other, amount, 0), (ledger.RECEIVABLES, 0, amount))


def seed_book(db: Database, a: date) -> None:
    """The book in this module's docstring, as of day ``a``."""
    add_customer(db)
    add_order(db, "O-USD", 0)
    add_order(db, "O-EUR", 0, currency="EUR")

    def day(offset: int) -> date:
        return a + timedelta(days=offset)

    with transaction(db.engine) as s:
        book_invoice(s, "U4", "USD", 250_00, 190_00, day(-175), day(-145))
        book_invoice(s, "E2", "EUR", 40_00, 0, day(-131), day(-101))
        book_invoice(s, "U1", "USD", 1000_00, 0, day(-83), day(-53))
        book_invoice(s, "U2", "USD", 500_00, 500_00, day(-44), day(-14))
        book_invoice(s, "E1", "EUR", 80_00, 80_00, day(-21), day(-1))
        book_invoice(s, "U3", "USD", 300_00, 200_00, day(-3), day(27))
        book_invoice(s, "U5", "USD", 200_00, 180_00, day(-3), day(27))
        s.flush()
        _adjustment(s, "U4", "write_off", 50_00, "USD", _at(day(-114)))
        _adjustment(s, "U5", "credit_note", 20_00, "USD", _at(day(-3), 15))
        receipts = [
            ("R1", "USD", 100_00, 0, "applied", _at(day(-2), 23, 30)),
            ("R2", "USD", 1000_00, 0, "applied", _at(day(-64))),
            ("R3", "EUR", 40_00, 0, "applied", _at(day(-85))),
            ("R4", "USD", 70_00, 70_00, "unapplied", _at(day(-1))),
            ("R5", "EUR", 25_00, 5_00, "part_applied", _at(day(-13))),
            ("R6", "USD", -30_00, 0, "debit", _at(day(-8))),
            ("R7", "USD", 150_00, 0, "applied", _at(day(-39))),
            ("R8", "USD", 10_00, 0, "applied", _at(day(-22))),
        ]
        for receipt in receipts:
            _receipt(s, *receipt)
        s.flush()
        _application(s, "R1", "U3", 100_00, "USD", "auto (tier 1, reference)", "delivered", _at(day(-2), 23, 30))
        _application(s, "R2", "U1", 1000_00, "USD", "manual", "delivered", _at(day(-64)))
        _application(s, "R3", "E2", 40_00, "EUR", "auto (tier 2, amount)", "refused", _at(day(-85)))
        _application(s, "R3", "E2", 40_00, "EUR", "manual", "delivered", _at(day(-85)))
        _application(s, "R5", "E1", 20_00, "EUR", "auto (tier 1, reference)", "pending", _at(day(-13)))
        _application(s, "R7", "U2 U4", 100_00, "USD", "auto (tier 3, subset)", "pending", _at(day(-39)))
        _application(s, "R7", "U2", 50_00, "USD", "manual", "pending", _at(day(-39)))
        _application(s, "R8", "U4", 10_00, "USD", "manual", "delivered", _at(day(-22)))
        _journal(s, "chargeback:D1", "USD", _at(day(-34)), (ledger.CHARGEBACKS, 12_00, 0), (ledger.CASH, 0, 12_00))
        _journal(
            s,
            "chargeback:D1:won",
            "USD",
            _at(day(-30), 23, 59, 59),
            (ledger.CASH, 12_00, 0),
            (ledger.CHARGEBACKS, 0, 12_00),
        )


def test_aging_and_kpis_are_the_reports(database: Database) -> None:
    seed_book(database, A)
    report = build_report(database.engine, A, 30)
    with snapshot(database.engine) as session:
        buckets = aging(session, A)
        headline = headline_kpis(session, A, 30)
        today = kpi_trend(session, [A], 30)
    assert buckets == {
        "EUR": dict(zip(BUCKETS, (0, 80_00, 0, 0, 0), strict=True)),
        "USD": dict(zip(BUCKETS, (380_00, 500_00, 0, 0, 190_00), strict=True)),
    }
    for currency, row in buckets.items():
        assert row == {b: sum(r.buckets[b] for r in report.aging if r.currency == currency) for b in BUCKETS}
    assert headline == report.kpis
    assert headline == [
        Kpis("EUR", 30, 80_00, 0, 80_00, 0, Decimal("30.0"), Decimal("0.0"), Decimal("30.0"), Decimal("0.0")),
        # DSO 1,070 / 500 x 30; best 380 / 500 x 30; CEI (700 + 500 - 1,070) / (700 + 500 - 380)
        Kpis(
            "USD",
            30,
            500_00,
            700_00,
            1070_00,
            380_00,
            Decimal("64.2"),
            Decimal("22.8"),
            Decimal("41.4"),
            Decimal("15.9"),
        ),
    ]
    # The book as it stood at the end of today, read from the ledger and the applications, is today's.
    assert today[0].as_of == A and today[0].kpis == headline


def test_kpis_at_past_days_as_the_book_stood_then(database: Database) -> None:
    seed_book(database, A)
    yesterday = A - timedelta(days=1)
    with snapshot(database.engine) as session:
        before_the_payment, the_payment, day_before = kpi_trend(
            session, [date(2026, 11, 20), date(2026, 11, 21), yesterday], 30
        )
        (end_of_september,) = kpi_trend(session, [date(2026, 9, 30)], 90)
    # Nothing moved receivables today: yesterday's book is today's, E1 (due yesterday) still current.
    assert day_before.kpis == build_report(database.engine, yesterday, 30).kpis
    assert [k.current_ar_minor for k in day_before.kpis] == [80_00, 380_00]
    # U3's 100.00 came in at 23:30 UTC on 11-21: that day's figures have it.
    assert [(k.closing_ar_minor, k.current_ar_minor) for k in the_payment.kpis] == [(80_00, 80_00), (1070_00, 380_00)]
    # On 11-20 U3 was all open (paid in part on 11-21) and U5 credited already: 300 + 180 not yet due, of
    # 500 + 300 + 190 + 180 owed.
    assert before_the_payment.kpis == [
        Kpis("EUR", 30, 80_00, 0, 80_00, 80_00, Decimal("30.0"), Decimal("30.0"), Decimal("0.0"), None),
        Kpis(
            "USD",
            30,
            500_00,
            700_00,
            1170_00,
            480_00,
            Decimal("70.2"),
            Decimal("28.8"),
            Decimal("41.4"),
            Decimal("4.2"),
        ),
    ]
    # On 09-30 (90 days): U1 was paid early (not yet due, nothing current); U4 200 after its write-off.
    assert end_of_september.kpis == [
        Kpis("EUR", 90, 40_00, 0, 0, 0, Decimal("0.0"), Decimal("0.0"), Decimal("0.0"), Decimal("100.0")),
        Kpis("USD", 90, 1000_00, 250_00, 200_00, 0, Decimal("18.0"), Decimal("0.0"), Decimal("18.0"), Decimal("84.0")),
    ]


def test_month_ends() -> None:
    assert month_ends(A, 4) == [date(2026, 8, 31), date(2026, 9, 30), date(2026, 10, 31), A]
    assert month_ends(date(2026, 3, 1), 3) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 1)]


def test_invoices_issued_and_cash_collected_per_day(database: Database) -> None:
    seed_book(database, A)
    first = A - timedelta(days=29)
    with snapshot(database.engine) as session:
        if database.kind == "postgresql":  # days are UTC days, whatever the connection's zone
            session.execute(text("SET LOCAL TIME ZONE 'Pacific/Auckland'"))
        issued = invoices_issued(session, first, A)
        collected = cash_collected(session, first, A)
        day_before = cash_collected(session, first - timedelta(days=1), first - timedelta(days=1))
        days_before_that = cash_collected(session, A - timedelta(days=40), first - timedelta(days=2))
    assert issued == [DayTotal(date(2026, 11, 2), "EUR", 1, 80_00), DayTotal(date(2026, 11, 20), "USD", 2, 500_00)]
    assert collected == [
        DayTotal(date(2026, 11, 1), "USD", 1, 10_00),
        DayTotal(date(2026, 11, 10), "EUR", 1, 25_00),
        DayTotal(date(2026, 11, 21), "USD", 1, 100_00),  # at 23:30 UTC
        DayTotal(date(2026, 11, 22), "USD", 1, 70_00),
    ]
    assert day_before == [DayTotal(date(2026, 10, 24), "USD", 1, 12_00)]  # the chargeback won, 23:59:59 UTC
    assert days_before_that == [DayTotal(date(2026, 10, 15), "USD", 1, 150_00)]  # the chargeback's debit is not


def test_match_rates_and_the_queue(database: Database) -> None:
    seed_book(database, A)
    report = build_report(database.engine, A, 30)
    with snapshot(database.engine) as session:
        every = match_rates(session)
        last_30_days = match_rates(session, A - timedelta(days=30), A)
        queue = unapplied_queue(session)
    # R1 R5 R7 automatic (R7 by hand too); R2 R3 R8 by hand (R3's automatic one was refused); R4 waiting.
    # Invoices: U3 E1 only automatically; U1 E2 by hand; U2 U4 both.
    assert every == report.matching == MatchRates(7, 3, 3, 1, 6, 2)
    # Booked after 10-24: R1 R5 automatic, R8 by hand, R4 waiting; their invoices U3 E1 (automatic), U4.
    assert last_30_days == MatchRates(4, 2, 1, 1, 3, 2)
    assert queue == [QueueTotal("EUR", 1, 5_00), QueueTotal("USD", 1, 70_00)]
