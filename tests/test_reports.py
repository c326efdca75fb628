"""``o2c report`` and ``o2c cash match``: the KPI arithmetic on worked numbers, aging from the database, a
real PNG, and the standalone matcher over CSV files."""

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from models.money import from_minor
from o2c.cli import parser
from o2c.cli.cash_match import INVOICE_COLUMNS, MATCH_COLUMNS
from o2c.devtools.cash_generator import generate
from o2c.reporting.reports import BUCKETS, bucket, build_report, kpis, render, write_chart
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database


def test_kpi_arithmetic() -> None:
    # 90 days, sales 900, AR 300 of which 120 not yet due; opening AR 200.
    k = kpis("USD", 90, opening=200_00, sales=900_00, closing=300_00, current=120_00)
    assert (k.dso, k.best_dso, k.average_days_delinquent) == (Decimal("30.0"), Decimal("12.0"), Decimal("18.0"))
    assert k.cei == Decimal("81.6")  # (200 + 900 - 300) / (200 + 900 - 120) = 800 / 980
    nothing = kpis("USD", 90, 0, 0, 0, 0)
    assert (nothing.dso, nothing.cei) == (None, None)


def test_buckets() -> None:
    assert [bucket(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current", "current", "1-30", "1-30", "31-60", "31-60", "61-90", "61-90", "90+",
    ]  # fmt: skip


def test_report_from_the_database(sqlite_db: Database, tmp_path: Path) -> None:
    add_customer(sqlite_db)
    add_order(sqlite_db, "O1", 1000_00)
    today = date(2026, 11, 23)
    for n, days_late in enumerate((-10, 5, 45, 75, 120), start=1):
        add_invoice(sqlite_db, f"INV-2026-00000{n}", "O1", 100_00 * n, today - timedelta(days=days_late))
    add_invoice(sqlite_db, "INV-2026-000009", "O1", 50_00, today, paid_on=today)
    report = build_report(sqlite_db.engine, today, 90)
    (row,) = report.aging
    assert row.buckets == dict(zip(BUCKETS, (100_00, 200_00, 300_00, 400_00, 500_00), strict=True))
    (usd,) = report.kpis
    assert usd.closing_ar_minor == 1500_00 and usd.current_ar_minor == 100_00
    text = render(report)
    assert "C1 Initech" in text and "1,500.00" in text and "Collection KPIs" in text
    chart = tmp_path / "aging.png"
    write_chart(report, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_standalone_match_over_csv_files(tmp_path: Path) -> None:
    data = generate(300, seed=3)
    customers = {c.id: c for c in data.customers}
    invoices = tmp_path / "open.csv"
    with invoices.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INVOICE_COLUMNS)
        writer.writeheader()
        for i in data.invoices:
            writer.writerow(
                {
                    "invoice_number": i.number,
                    "customer_id": i.customer_id,
                    "customer_name": customers[i.customer_id].name,
                    "customer_accounts": ";".join(customers[i.customer_id].accounts),
                    "currency": i.currency,
                    "open_amount": from_minor(i.open_minor, i.currency),
                    "total_amount": from_minor(i.total_minor, i.currency),
                    "payment_reference": i.payment_reference,
                    "due_date": i.due_date,
                    "discount_amount": from_minor(i.discount_minor, i.currency) if i.discount_minor else "",
                    "discount_until": i.discount_until or "",
                    "order_id": i.order_id,
                }
            )
    statement = tmp_path / "statement.csv"
    with statement.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "amount", "currency", "payer_name", "payer_account", "reference", "remittance"])
        for line in data.lines:
            writer.writerow(
                [line.booked_on, from_minor(line.amount_minor, line.currency), line.currency, line.payer_name,
                 line.payer_account, line.reference, line.remittance]
            )  # fmt: skip
    out = tmp_path / "matches.csv"
    args = parser().parse_args(
        ["cash", "match", "--invoices", str(invoices), "--statement", str(statement), "--out", str(out)]
    )
    assert args.run(args) == 0  # (not main(): it would point the process's logging at pytest's captured stdout)
    rows = list(csv.DictReader(out.open()))
    assert tuple(rows[0]) == MATCH_COLUMNS
    by_line = {}
    for row in rows:
        by_line.setdefault(row["location"], []).append(row)
    assert len(by_line) == len(data.lines)
    wrong = 0
    for index, line in enumerate(data.lines, start=2):
        got = by_line[f"line {index}"]
        if got[0]["decision"] == "auto" and {r["invoice_number"] for r in got} != set(data.truth[line.id].invoices):
            wrong += 1
    assert wrong == 0
    assert sum(1 for r in by_line.values() if r[0]["decision"] == "auto") / len(data.lines) > 0.9
