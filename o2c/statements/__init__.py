"""Bank statements in, one shape out: ISO 20022 camt.053 and camt.054, BAI2, MT940 and CSV.

Parsing is done by maintained libraries (pyiso20022 on xsdata for camt, ``bai2``, ``mt-940``); this module
turns what they read into ``StatementLine``s and refuses a file, whole, with the line or element at fault.
Nothing is written here: the caller stores a statement only once all of it has parsed.

Each line gets a stable id from what the bank says about it (account, booking date, amount, the bank's own
references, the remittance) plus its occurrence among identical lines, so the same payment seen again (the
same file imported twice, or a camt.054 notification and the day's camt.053) is recognised.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from o2c.statements import bai2, camt, csvfile, mt940
from o2c.statements.types import CsvMapping, Statement, StatementError, StatementFormat, StatementLine

__all__ = [
    "CsvMapping",
    "Statement",
    "StatementError",
    "StatementFormat",
    "StatementLine",
    "detect_format",
    "parse_statement",
]


def parse_statement(data: bytes, fmt: StatementFormat | None = None, mapping: CsvMapping | None = None) -> Statement:
    fmt = fmt or detect_format(data)
    digest = hashlib.sha256(data).hexdigest()
    parsers: dict[StatementFormat, Callable[[bytes], Statement]] = {
        StatementFormat.CAMT053: camt.parse,
        StatementFormat.CAMT054: camt.parse,
        StatementFormat.BAI2: bai2.parse,
        StatementFormat.MT940: mt940.parse,
        StatementFormat.CSV: lambda raw: csvfile.parse(raw, mapping or CsvMapping()),
    }
    statement = parsers[fmt](data)
    if not statement.lines:
        raise StatementError("file", "no transactions in it")
    seen: Counter[str] = Counter()
    lines = []
    for line in statement.lines:
        identity = "|".join(
            (
                statement.account,
                line.booked_on.isoformat(),
                str(line.amount_minor),
                line.currency,
                line.bank_reference,
                line.end_to_end_id,
                line.reference,
                line.remittance,
                line.payer_account,
            )
        )
        seen[identity] += 1
        line_id = "bt-" + hashlib.sha256(f"{identity}|{seen[identity]}".encode()).hexdigest()[:29]
        lines.append(replace(line, id=line_id))
    return replace(statement, lines=lines, digest=digest)


def detect_format(data: bytes) -> StatementFormat:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        match = re.search(rb"urn:iso:std:iso:20022:tech:xsd:camt\.(05[34])\.", head)
        if match is None:
            raise StatementError("file", "XML, but not an ISO 20022 camt.053 or camt.054 document")
        return StatementFormat.CAMT053 if match.group(1) == b"053" else StatementFormat.CAMT054
    if head.startswith(b"01,"):
        return StatementFormat.BAI2
    if re.search(rb"^:20:", head, re.MULTILINE) and b":61:" in data:
        return StatementFormat.MT940
    return StatementFormat.CSV
