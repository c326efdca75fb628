"""``o2c cash match --out``: the matches CSV is opened in spreadsheets, and what came from the bank must not
run there as a formula (o2c.platform.csvout)."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from models.invoicing import rf_reference
from o2c.cli import parser
from o2c.cli.cash_match import MATCH_COLUMNS
from o2c.platform.csvout import cell, write_csv

HYPERLINK = '=HYPERLINK("http://x","y")'


def _match(tmp_path: Path, statement_rows: list[list[str]]) -> list[dict[str, str]]:
    invoices = tmp_path / "open.csv"
    invoices.write_text(
        "invoice_number,customer_id,customer_name,currency,open_amount,payment_reference\n"
        f"INV-2026-000001,C1,Acme Trading GmbH,EUR,22.00,{rf_reference('INV2026000001')}\n"
    )
    statement = tmp_path / "statement.csv"
    with statement.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "amount", "currency", "payer_name", "payer_account", "reference", "remittance"])
        writer.writerows(statement_rows)
    out = tmp_path / "matches.csv"
    args = parser().parse_args(
        ["cash", "match", "--invoices", str(invoices), "--statement", str(statement), "--out", str(out)]
    )
    assert args.run(args) == 0
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_payer_names_that_look_like_formulas_are_written_as_text(tmp_path: Path) -> None:
    rows = _match(
        tmp_path,
        [
            ["2026-11-20", "22.00", "EUR", HYPERLINK, "", rf_reference("INV2026000001"), ""],
            ["2026-11-20", "5.00", "EUR", "+49 30 1234", "", "", "@SUM(1+1)*cmd|' /C calc'!A0"],
            ["2026-11-20", "-12.00", "EUR", "-2+3", "", "", "bank fee"],
            ["2026-11-20", "1.00", "EUR", "@Acme", "", "", ""],
        ],
    )
    assert list(rows[0]) == list(MATCH_COLUMNS)
    paid, unknown, fee, at = rows
    assert paid["payer_name"] == "'" + HYPERLINK
    assert (paid["decision"], paid["invoice_number"], paid["amount"], paid["applied_amount"]) == (
        "auto",
        "INV-2026-000001",
        "22.00",
        "22.00",
    )
    assert unknown["payer_name"] == "'+49 30 1234"
    assert at["payer_name"] == "'@Acme"
    # A debit's amount is a number and stays one; a payer who calls himself "-2+3" is text.
    assert (fee["amount"], fee["decision"], fee["payer_name"]) == ("-12.00", "debit", "'-2+3")
    for row in rows:
        for column in ("line_id", "location", "payer_name", "rule", "reason", "customer_id", "invoice_number"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), (column, row[column])


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Acme = best", "Acme = best"),
        ("", ""),
        (Decimal("-12.00"), Decimal("-12.00")),
        (-5, -5),
        (None, None),
    ],
)
def test_cell(value: object, written: object) -> None:
    assert cell(value) == written


def test_write_csv_takes_sequences_and_mappings() -> None:
    out = io.StringIO()
    write_csv(out, ("name", "amount"), [["=1+1", Decimal("-1.50")], {"name": "-x", "amount": Decimal("2")}])
    assert out.getvalue().splitlines() == ["name,amount", "'=1+1,-1.50", "'-x,2"]
