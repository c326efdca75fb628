"""CSV written for people, who open it in a spreadsheet: no cell of ours may run there as a formula.

Payer names, remittance texts and references come from outside (a bank statement, a customer), and a
spreadsheet runs a cell such as ``=HYPERLINK("http://x","y")`` as a formula ("CSV injection"). As OWASP
recommends, such text is written with a leading apostrophe, which spreadsheets take as "this is text" and
do not show. Whether a cell is text or a number is decided by its type, not its content: amounts are given
as ``Decimal`` (or ``int``) and written as they are, so a refund of ``-12.00`` stays a number, while a payer
named ``-12.00`` is text and gets the apostrophe.
"""

import csv
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

# What spreadsheets read as the start of a formula (OWASP's list: tab and carriage return are stripped
# before a formula is looked for), plus a line feed, stripped the same way by some.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def cell(value: Any) -> Any:
    """The value as it may go into a cell: numbers as they are, text that would start a formula escaped."""
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_csv(out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
    """A header and the rows (sequences in the order of ``columns``, or mappings by column name), every
    cell through ``cell``."""
    writer = csv.writer(out)
    writer.writerow([cell(c) for c in columns])
    for row in rows:
        values = [row[c] for c in columns] if isinstance(row, Mapping) else row
        writer.writerow([cell(v) for v in values])
