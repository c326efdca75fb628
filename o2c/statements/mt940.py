"""SWIFT MT940 statements, read by ``mt-940``; the :86: details parsed here (SEPA keys, ?NN subfields, /CODE/)."""

import re
from decimal import Decimal
from typing import Any

from o2c.statements.types import Statement, StatementError, StatementFormat, StatementLine
from o2c.statements.values import read_amount, read_currency, read_text


def parse(data: bytes) -> Statement:
    import mt940

    text = read_text(data)

    class Located(mt940.models.Transactions):
        """Says at which line the tag it could not read starts."""

        def _process_match(self, match: Any, i: int, valid: Any, joined: str) -> None:
            try:
                super()._process_match(match, i, valid, joined)
            except Exception as exc:
                line_no = joined.count("\n", 0, match.start()) + 1
                raise StatementError(
                    f"line {line_no} (:{match.group('full_tag')}:)", str(exc) or type(exc).__name__
                ) from exc

    # The library skips a :61: it cannot read and goes on; a statement line lost unnoticed is money lost, so
    # each one is checked first (date, optional entry date, [R]C/D, optional funds code, amount, type).
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith(":61:") and not _MT940_61.match(raw[4:].strip()):
            raise StatementError(f"line {line_no} (:61:)", f"{raw[4:].strip()!r} is not a statement line")
    statements = [block for block in re.split(r"(?m)^-\s*$", text) if ":61:" in block or ":20:" in block]
    lines: list[StatementLine] = []
    ids: list[str] = []
    accounts: set[str] = set()
    for block in statements:
        # The raw :86: text is kept (no details post-processor): ``_mt940_details`` reads it, ?31 included.
        transactions = Located(
            processors={"pre_statement": [mt940.processors.date_fixup_pre_processor], "post_transaction_details": []}
        )
        transactions.parse(block)
        ids.append(
            f"{transactions.data.get('transaction_reference', '')}/{transactions.data.get('statement_number', '')}"
        )
        account = str(transactions.data.get("account_identification", ""))
        accounts.add(account)
        for t, transaction in enumerate(transactions, start=1):
            entry = transaction.data
            where = f"statement {ids[-1]}, transaction {t} (:61:)"
            if "amount" not in entry:
                raise StatementError(where, "no :61: amount")
            amount = entry["amount"]
            details = _mt940_details(str(entry.get("transaction_details") or ""))
            lines.append(
                StatementLine(
                    entry.get("entry_date") or entry["date"],
                    read_amount(Decimal(amount.amount), amount.currency, where),
                    read_currency(amount.currency, where),
                    payer_name=details.get("name", ""),
                    payer_account=details.get("account", ""),
                    reference=details.get("reference", ""),
                    remittance=details.get("remittance", ""),
                    bank_reference=str(entry.get("bank_reference") or ""),
                    end_to_end_id=details.get("end_to_end", "")
                    or str(entry.get("customer_reference") or "").replace("NONREF", ""),
                    where=where,
                )
            )
    if not statements:
        raise StatementError("file", "no MT940 statement (:20: ... :61: ... -)")
    return Statement(StatementFormat.MT940, "+".join(ids), "+".join(sorted(accounts)), lines)


_MT940_61 = re.compile(r"\d{6}(\d{4})?R?[CD][A-Z]?\d{1,12}(,\d{0,3})?[A-Z][A-Z0-9]{3}")
_SUBFIELD = re.compile(r"\?(\d\d)")
_SWIFT_CODE = re.compile(r"/(REMI|NAME|IBAN|ACCW|EREF|CRED|ORDP|BENM|ADDR|CSID|MARF|SVCL|BIC|ISDT|RTRN)/")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE)\+")


def _mt940_details(text: str) -> dict[str, str]:
    """The :86: field: German ?-subfields (?20-?29 purpose, ?31 account, ?32-?33 name, SEPA keys in the
    purpose), SWIFT's /CODE/ style (/REMI/, /NAME/, /IBAN/), or free text."""
    text = text.replace("\n", "")
    out: dict[str, str] = {}
    if _SUBFIELD.search(text):
        parts = _SUBFIELD.split(text)
        fields: dict[int, str] = {}
        for code, value in zip(parts[1::2], parts[2::2], strict=False):
            fields[int(code)] = fields.get(int(code), "") + value
        purpose = "".join(fields.get(k, "") for k in range(20, 30)) + "".join(fields.get(k, "") for k in range(60, 64))
        out["account"] = fields.get(31, "")
        out["name"] = (fields.get(32, "") + fields.get(33, "")).strip()
        keyed = dict(zip(_SEPA_KEYS.split(purpose)[1::2], _SEPA_KEYS.split(purpose)[2::2], strict=False))
        out["remittance"] = (keyed.get("SVWZ") or purpose).strip()
        out["end_to_end"] = keyed.get("EREF", "").strip()
        return out
    if _SWIFT_CODE.search(text):
        parts = _SWIFT_CODE.split(text)
        fields_by_code = {code: value.strip("/ ") for code, value in zip(parts[1::2], parts[2::2], strict=False)}
        out["remittance"] = fields_by_code.get("REMI", "")
        out["name"] = fields_by_code.get("NAME", "")
        out["account"] = fields_by_code.get("IBAN", "")
        out["end_to_end"] = fields_by_code.get("EREF", "")
        return out
    out["remittance"] = text.strip()
    return out
