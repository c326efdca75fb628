"""The dashboard's figures, each one SQL aggregate (GROUP BY currency, day or due date) over indexed columns:
nothing loads invoices, receipts or ledger lines into Python, so they stay fast on a book of a million invoices.

Definitions are ``o2c report``'s (o2c/reporting/aggregates.py): its buckets (``bucket``), its KPI arithmetic
(``kpis``) and its match-rate counting (``MatchRates``). ``o2c report`` reads its KPIs and match rates through
these functions too. Each function reads through the session it is given; the dashboard gives them one
snapshot, so its figures agree.

Indexes they use (those marked * come with migration 0008, for a big book):
- ``aging``: * ``ix_invoices_open_due`` on invoices (due_date) WHERE open_minor > 0, carrying currency and
  open_minor on PostgreSQL: an index-only scan of the open invoices, a fraction of the book;
- ``sales``, ``invoices_issued``: * ``ix_invoices_issued_on`` on invoices (issued_on), carrying currency and
  total_minor on PostgreSQL;
- ``cash_collected``, ``receivables_before``: * ``ix_ledger_entries_account_posted`` on ledger_entries
  (account, posted_at), carrying currency, debit_minor and credit_minor on PostgreSQL;
- ``match_rates``: ``ix_cash_receipts_booked_on`` (a period) and ``ix_cash_applications_receipt_id``;
- ``unapplied_queue``: ``ix_cash_receipts_status``;
- ``kpi_trend``: the ledger's and ``ix_invoices_issued_on`` as above, ``ix_invoices_due_date`` for the
  months' invoices, joined to their payment applications and adjustments: a year of a million-invoice book
  is a few seconds' work, which the console does once an hour (o2c/web/console/reporting.py).
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, literal, true, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from activities import ledger
from models.tables import BalanceAdjustment, CashApplication, CashReceipt, Invoice, LedgerEntry, PaymentApplication
from o2c.platform.db import is_postgres
from o2c.reporting.aggregates import BUCKETS, Kpis, MatchRates, bucket, kpis

PerCurrency = dict[str, int]


@dataclass(frozen=True)
class DayTotal:
    """One currency's documents on one day: how many, and their amount in minor units."""

    day: date
    currency: str
    count: int
    amount_minor: int


@dataclass(frozen=True)
class QueueTotal:
    currency: str
    count: int
    amount_minor: int


@dataclass(frozen=True)
class TrendPoint:
    """The KPIs as they stood at the end of ``as_of``, over the ``days`` before it."""

    as_of: date
    kpis: list[Kpis]


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC: timestamps before it belong to earlier days."""
    return datetime.combine(day, time(), UTC)


def _day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column (SQLite keeps our UTC timestamps as text)."""
    if is_postgres(session.get_bind()):
        return cast(func.timezone("UTC", column), Date)
    return type_coerce(func.date(column), Date)


def _minor(value: Any) -> int:
    return int(value or 0)  # PostgreSQL sums BIGINT as NUMERIC


def aging(session: Session, as_of: date) -> dict[str, dict[str, int]]:
    """Open receivables per currency and bucket of days past due on ``as_of`` (``o2c report``'s aging,
    summed over customers). One row per currency and due date comes back: a few thousand at most."""
    rows = session.execute(
        sa_select(col(Invoice.currency), col(Invoice.due_date), func.sum(col(Invoice.open_minor)))
        .where(col(Invoice.open_minor) > 0)
        .group_by(col(Invoice.currency), col(Invoice.due_date))
    )
    result: dict[str, dict[str, int]] = {}
    for currency, due, open_minor in rows:
        buckets = result.setdefault(currency, dict.fromkeys(BUCKETS, 0))
        buckets[bucket((as_of - due).days)] += _minor(open_minor)
    return dict(sorted(result.items()))


def sales(session: Session, after: date, until: date) -> PerCurrency:
    """Invoiced per currency with ``after`` < issued_on <= ``until`` (the report's credit sales)."""
    rows = session.execute(
        sa_select(col(Invoice.currency), func.sum(col(Invoice.total_minor)))
        .where(col(Invoice.issued_on) > after, col(Invoice.issued_on) <= until)
        .group_by(col(Invoice.currency))
    )
    return {currency: _minor(total) for currency, total in rows}


def receivables_before(session: Session, day: date) -> PerCurrency:
    """The receivables account's balance per currency before ``day`` began (UTC), from the ledger."""
    rows = session.execute(
        sa_select(col(LedgerEntry.currency), func.sum(col(LedgerEntry.debit_minor) - col(LedgerEntry.credit_minor)))
        .where(col(LedgerEntry.account) == ledger.RECEIVABLES, col(LedgerEntry.posted_at) < midnight(day))
        .group_by(col(LedgerEntry.currency))
    )
    return {currency: _minor(balance) for currency, balance in rows}


def headline_kpis(
    session: Session,
    as_of: date,
    days: int,
    open_by_bucket: dict[str, dict[str, int]] | None = None,
    opening: PerCurrency | None = None,
) -> list[Kpis]:
    """DSO, best possible DSO, average days delinquent and CEI per currency: ``build_report``'s figures
    (opening receivables from the ledger, sales in the period, closing and current from the open invoices).
    ``open_by_bucket`` and ``opening`` save reading them again: ``aging`` on ``as_of``, and
    ``receivables_before`` the period began."""
    open_by_bucket = aging(session, as_of) if open_by_bucket is None else open_by_bucket
    sold = sales(session, as_of - timedelta(days=days), as_of)
    if opening is None:
        opening = receivables_before(session, as_of - timedelta(days=days))
    closing = {c: sum(b.values()) for c, b in open_by_bucket.items()}
    current = {c: b["current"] for c, b in open_by_bucket.items()}
    currencies = sorted(set(sold) | set(closing) | set(opening))
    return [kpis(c, days, opening.get(c, 0), sold.get(c, 0), closing.get(c, 0), current.get(c, 0)) for c in currencies]


def invoices_issued(session: Session, first: date, last: date) -> list[DayTotal]:
    """Invoices issued per day and currency, ``first`` to ``last`` inclusive: count and total."""
    rows = session.execute(
        sa_select(col(Invoice.issued_on), col(Invoice.currency), func.count(), func.sum(col(Invoice.total_minor)))
        .where(col(Invoice.issued_on) >= first, col(Invoice.issued_on) <= last)
        .group_by(col(Invoice.issued_on), col(Invoice.currency))
        .order_by(col(Invoice.issued_on), col(Invoice.currency))
    )
    return [DayTotal(day, currency, count, _minor(total)) for day, currency, count, total in rows]


def cash_collected(session: Session, first: date, last: date) -> list[DayTotal]:
    """Money into the cash account per day (UTC) and currency, ``first`` to ``last`` inclusive: the ledger's
    debits to cash (bank receipts, payments straight to an order, a chargeback won or a failed refund coming
    back), each counted once however it is applied later. Count: the journals that brought it."""
    day = _day(session, col(LedgerEntry.posted_at))
    rows = session.execute(
        sa_select(day, col(LedgerEntry.currency), func.count(), func.sum(col(LedgerEntry.debit_minor)))
        .where(
            col(LedgerEntry.account) == ledger.CASH,
            col(LedgerEntry.posted_at) >= midnight(first),
            col(LedgerEntry.posted_at) < midnight(last + timedelta(days=1)),
            col(LedgerEntry.debit_minor) > 0,
        )
        .group_by(day, col(LedgerEntry.currency))
        .order_by(day, col(LedgerEntry.currency))
    )
    return [DayTotal(day, currency, count, _minor(total)) for day, currency, count, total in rows]


def unapplied_queue(session: Session) -> list[QueueTotal]:
    """The cash-application queue per currency: receipts waiting with money unapplied, and how much."""
    # Imported here: its package brings the allocation engine and PDF documents, a second and a half that
    # ``o2c report``, which reads the rest of this module, would otherwise wait for at every run.
    from activities.cash_application.queue import QUEUED_STATUSES

    rows = session.execute(
        sa_select(col(CashReceipt.currency), func.count(), func.sum(col(CashReceipt.unapplied_minor)))
        .where(col(CashReceipt.unapplied_minor) > 0, col(CashReceipt.status).in_(QUEUED_STATUSES))
        .group_by(col(CashReceipt.currency))
        .order_by(col(CashReceipt.currency))
    )
    return [QueueTotal(currency, count, _minor(total)) for currency, count, total in rows]


def match_rates(session: Session, after: date | None = None, until: date | None = None) -> MatchRates:
    """``o2c report``'s match rates, counted in the database. Without a period, every receipt and
    application (the report's figures); with one, the receipts booked in ``after`` < booked_on <= ``until``
    and their applications. A receipt is automatic when any live application of it is, by hand when all
    are manual, waiting when it has none; an invoice is automatic when no manual application named it."""
    in_period = []
    if after is not None:
        in_period.append(col(CashReceipt.booked_on) > after)
    if until is not None:
        in_period.append(col(CashReceipt.booked_on) <= until)
    receipts = session.execute(
        sa_select(func.count()).select_from(CashReceipt).where(col(CashReceipt.amount_minor) > 0, *in_period)
    ).scalar_one()
    is_manual = case((col(CashApplication.source) == "manual", 1), else_=0)
    live = col(CashApplication.status) != "refused"
    per_receipt = (
        sa_select(func.min(is_manual).label("manual"))
        .select_from(CashApplication)
        .join(CashReceipt, col(CashReceipt.id) == col(CashApplication.receipt_id))
        .where(live, col(CashReceipt.amount_minor) > 0, *in_period)
        .group_by(col(CashApplication.receipt_id))
        .subquery()
    )
    automatic, by_hand = session.execute(
        sa_select(
            func.coalesce(func.sum(case((per_receipt.c.manual == 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((per_receipt.c.manual == 1, 1), else_=0)), 0),
        )
    ).one()
    applications = sa_select(col(CashApplication.source), col(CashApplication.invoice_numbers)).where(live)
    if in_period:
        applications = applications.join(CashReceipt, col(CashReceipt.id) == col(CashApplication.receipt_id)).where(
            *in_period
        )
    named = _invoices_named(session, applications.subquery())
    per_invoice = (
        sa_select(named.c.number, func.max(case((named.c.source == "manual", 1), else_=0)).label("manual"))
        .where(named.c.number != "")
        .group_by(named.c.number)
        .subquery()
    )
    invoices, invoices_automatic = session.execute(
        sa_select(func.count(), func.coalesce(func.sum(case((per_invoice.c.manual == 0, 1), else_=0)), 0))
    ).one()
    return MatchRates(
        receipts=int(receipts),
        automatic=int(automatic),
        by_hand=int(by_hand),
        waiting=int(receipts) - int(automatic) - int(by_hand),
        invoices=int(invoices),
        invoices_automatic=int(invoices_automatic),
    )


def _invoices_named(session: Session, applications: Any) -> Any:
    """(source, number) for each invoice number in each application's space-separated ``invoice_numbers``:
    PostgreSQL splits with ``string_to_array``; SQLite, with no split function, by a recursive CTE."""
    if is_postgres(session.get_bind()):
        number = (
            func.unnest(func.string_to_array(applications.c.invoice_numbers, " "))
            .table_valued("number")
            .render_derived()
        )
        return (
            sa_select(applications.c.source, number.c.number).select_from(applications).join(number, true()).subquery()
        )
    rest = applications.c.invoice_numbers + " "
    split = sa_select(applications.c.source, literal("").label("number"), rest.label("rest")).cte(
        "split", recursive=True
    )
    space = func.instr(split.c.rest, " ")
    split = split.union_all(
        sa_select(split.c.source, func.substr(split.c.rest, 1, space - 1), func.substr(split.c.rest, space + 1)).where(
            split.c.rest != ""
        )
    )
    return sa_select(split.c.source, split.c.number).subquery()


def month_ends(as_of: date, months: int) -> list[date]:
    """The last day of each of the ``months - 1`` months before ``as_of``'s, then ``as_of``: oldest first."""
    ends = [as_of]
    first_of_month = as_of.replace(day=1)
    for _ in range(months - 1):
        ends.insert(0, first_of_month - timedelta(days=1))
        first_of_month = ends[0].replace(day=1)
    return ends


def kpi_trend(session: Session, points: Iterable[date], days: int) -> list[TrendPoint]:
    """The KPIs at the end of each day in ``points``, as the book stood then: opening and closing
    receivables from the ledger (before the period, and at the end of the day), sales by issue date, and
    current receivables from the invoices not yet due that day, less what was applied, credited or
    written off on them by then. On today's book the closing and current figures are the open invoices'
    (the ledger's receivables equal them), so the point for today is ``headline_kpis``."""
    points = sorted(set(points))
    if not points:
        return []
    starts = {p: p - timedelta(days=days) for p in points}
    opening = _receivables_at(session, [starts[p] for p in points] + [p + timedelta(days=1) for p in points])
    issued = invoices_issued(session, min(starts.values()) + timedelta(days=1), max(points))
    current = _current_at(session, points)
    trend = []
    for p in points:
        sold: PerCurrency = defaultdict(int)
        for row in issued:
            if starts[p] < row.day <= p:
                sold[row.currency] += row.amount_minor
        before, after = opening[starts[p]], opening[p + timedelta(days=1)]
        currencies = sorted(set(sold) | {c for c in (*before, *after) if before.get(c) or after.get(c)})
        figures = [
            kpis(c, days, before.get(c, 0), sold.get(c, 0), after.get(c, 0), current[p].get(c, 0)) for c in currencies
        ]
        trend.append(TrendPoint(p, figures))
    return trend


def _receivables_at(session: Session, days: list[date]) -> dict[date, PerCurrency]:
    """The receivables balance before each of ``days`` began: the balance before the first, then the daily
    movements up to the last, added up (one scan of the period's ledger lines, grouped by day)."""
    first, last = min(days), max(days)
    base = receivables_before(session, first)
    day = _day(session, col(LedgerEntry.posted_at))
    moved = session.execute(
        sa_select(
            day, col(LedgerEntry.currency), func.sum(col(LedgerEntry.debit_minor) - col(LedgerEntry.credit_minor))
        )
        .where(
            col(LedgerEntry.account) == ledger.RECEIVABLES,
            col(LedgerEntry.posted_at) >= midnight(first),
            col(LedgerEntry.posted_at) < midnight(last),
        )
        .group_by(day, col(LedgerEntry.currency))
    ).all()
    balances = {}
    for cutoff in sorted(set(days)):
        balance = defaultdict(int, base)
        for moved_on, currency, amount in moved:
            if moved_on < cutoff:
                balance[currency] += _minor(amount)
        balances[cutoff] = dict(balance)
    return balances


def _current_at(session: Session, points: list[date]) -> dict[date, PerCurrency]:
    """Per point and currency: invoices issued by that day and due on or after it, less what payments,
    credit notes and write-offs took off them by the end of that day. An invoice counts at the points from
    its issue to its due date; what was taken off it, from that day (or the issue, if later) to its due
    date. So the database sums per currency and pair of days (a few thousand rows for a year of a million
    invoices), and the points are counted here."""
    window = (col(Invoice.due_date) >= points[0], col(Invoice.issued_on) <= points[-1])
    owed = session.execute(
        sa_select(
            col(Invoice.currency), col(Invoice.issued_on), col(Invoice.due_date), func.sum(col(Invoice.total_minor))
        )
        .where(*window)
        .group_by(col(Invoice.currency), col(Invoice.issued_on), col(Invoice.due_date))
    ).all()
    taken: list[Any] = []
    for table, amount, on, invoice_number in (
        (
            PaymentApplication,
            col(PaymentApplication.amount_minor) + col(PaymentApplication.discount_minor),
            _day(session, col(PaymentApplication.applied_at)),
            col(PaymentApplication.invoice_number),
        ),
        (
            BalanceAdjustment,
            col(BalanceAdjustment.amount_minor),
            _day(session, col(BalanceAdjustment.created_at)),
            col(BalanceAdjustment.invoice_number),
        ),
    ):
        since = _later(session, col(Invoice.issued_on), on)
        taken += session.execute(
            sa_select(col(Invoice.currency), since, col(Invoice.due_date), func.sum(amount))
            .select_from(Invoice)
            .join(table, invoice_number == col(Invoice.number))
            .where(*window, on <= col(Invoice.due_date), on <= points[-1])
            .group_by(col(Invoice.currency), since, col(Invoice.due_date))
        ).all()
    current: dict[date, PerCurrency] = {p: defaultdict(int) for p in points}
    for rows, sign in ((owed, 1), (taken, -1)):
        for currency, since_day, due, amount in rows:
            for p in points[bisect_left(points, since_day) : bisect_right(points, due)]:
                current[p][currency] += sign * _minor(amount)
    return current


def _later(session: Session, one: Any, other: Any) -> Any:
    """The later of two dates (PostgreSQL's GREATEST; SQLite's two-argument MAX)."""
    if is_postgres(session.get_bind()):
        return func.greatest(one, other)
    return type_coerce(func.max(one, other), Date)
