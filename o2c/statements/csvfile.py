"""Banks' CSV exports, their columns named by a ``CsvMapping``."""

import csv
import io
import re
from datetime import datetime

from o2c.statements.types import CsvMapping, Statement, StatementError, StatementFormat, StatementLine
from o2c.statements.values import read_amount, read_currency, read_text


def parse(data: bytes, mapping: CsvMapping) -> Statement:
    text = read_text(data)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    headers = reader.fieldnames or []
    required = {"booked_on": mapping.booked_on, "amount": mapping.amount}
    if not mapping.default_currency:
        required["currency"] = mapping.currency
    missing = [f"{name} (column {column!r})" for name, column in required.items() if column not in headers]
    if missing:
        raise StatementError(
            "line 1 (header)", f"missing {', '.join(missing)}; columns are {headers}; map them with --map"
        )
    lines: list[StatementLine] = []
    for row_no, row in enumerate(reader, start=2):
        if None in row:
            raise StatementError(f"line {row_no}", f"more fields than the header has ({len(headers)})")

        def value(column: str, row: dict[str, str] = row) -> str:
            return (row.get(column) or "").strip()

        currency = value(mapping.currency) or mapping.default_currency
        read_currency(currency, f"line {row_no}, column {mapping.currency!r}")
        raw_amount = value(mapping.amount).replace(" ", "").replace("'", "")
        # thousands separators as banks export them: 1.000,00 with decimal_comma, else 1,000.00
        raw_amount = (
            raw_amount.replace(".", "").replace(",", ".") if mapping.decimal_comma else raw_amount.replace(",", "")
        )
        if not re.fullmatch(r"[+-]?\d+(\.\d+)?", raw_amount):
            raise StatementError(
                f"line {row_no}, column {mapping.amount!r}", f"{value(mapping.amount)!r} is not an amount"
            )
        try:
            booked = datetime.strptime(value(mapping.booked_on), mapping.date_format).date()  # noqa: DTZ007 (a date)
        except ValueError as exc:
            raise StatementError(
                f"line {row_no}, column {mapping.booked_on!r}",
                f"{value(mapping.booked_on)!r} is not a date in the form {mapping.date_format}",
            ) from exc
        lines.append(
            StatementLine(
                booked,
                read_amount(raw_amount, currency, f"line {row_no}, column {mapping.amount!r}"),
                currency,
                payer_name=value(mapping.payer_name),
                payer_account=value(mapping.payer_account),
                reference=value(mapping.reference),
                remittance=value(mapping.remittance),
                bank_reference=value(mapping.bank_reference),
                where=f"line {row_no}",
            )
        )
    return Statement(StatementFormat.CSV, "", mapping.account, lines)
