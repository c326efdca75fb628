"""BAI2 files, read by ``bai2`` (amounts already in integer cents)."""

import re

from o2c.statements.types import Statement, StatementError, StatementFormat, StatementLine
from o2c.statements.values import read_currency, read_text


def parse(data: bytes) -> Statement:
    from bai2 import bai2 as reader
    from bai2.constants import TypeCodeTransaction

    text = read_text(data)
    try:
        parsed = reader.parse_from_string(text, check_integrity=True)
    except Exception as exc:  # the library's ParsingException and IntegrityException say which record
        raise StatementError("BAI2", str(exc)) from exc
    lines: list[StatementLine] = []
    accounts: list[str] = []
    for g, group in enumerate(parsed.children, start=1):
        as_of = group.header.as_of_date
        for account in group.children:
            number = account.header.customer_account_number
            accounts.append(number)
            currency = account.header.currency or group.header.currency or "USD"
            for t, transaction in enumerate(account.children, start=1):
                where = f"group {g}, account {number}, transaction {t} (record 16)"
                if transaction.type_code.transaction not in (TypeCodeTransaction.credit, TypeCodeTransaction.debit):
                    continue
                if transaction.amount is None:
                    raise StatementError(where, "no amount")
                if transaction.amount == 0:
                    continue  # an advice without money
                sign = 1 if transaction.type_code.transaction == TypeCodeTransaction.credit else -1
                day = (
                    (transaction.availability or {}).get("date") if isinstance(transaction.availability, dict) else None
                )
                lines.append(
                    StatementLine(
                        day or as_of,
                        sign * int(transaction.amount),  # BAI2 amounts are minor units already
                        read_currency(currency, where),
                        payer_name=_bai2_payer(transaction.text or ""),
                        remittance=transaction.text or "",
                        bank_reference=transaction.bank_reference or "",
                        end_to_end_id=transaction.customer_reference or "",
                        where=where,
                    )
                )
    file_id = f"{parsed.header.sender_id}/{parsed.header.file_id}/{parsed.header.creation_date}"
    return Statement(StatementFormat.BAI2, file_id, "+".join(sorted(set(accounts))), lines)


_BAI2_PAYER = re.compile(
    r"(?:ORIG CO NAME|ORIGINATOR|B/O|OB|BY ORDER OF)[:=]\s*([^:]+?)(?:\s+(?:ENTRY DESCR|COMPANY ID|[A-Z0-9/]{2,}):|$)"
)


def _bai2_payer(text: str) -> str:
    """The ordering party where the bank's detail text names it (ACH "ORIG CO NAME:", wires "B/O:")."""
    found = _BAI2_PAYER.search(text.upper())
    return found.group(1).strip() if found else ""
