"""Bank statements in, one shape out: ISO 20022 camt.053 and camt.054, BAI2, MT940 and CSV.

Parsing is done by maintained libraries (pyiso20022 on xsdata for camt, ``bai2``, ``mt-940``); this module
turns what they read into ``StatementLine``s and refuses a file, whole, with the line or element at fault.
Nothing is written here: the caller stores a statement only once all of it has parsed.

Each line gets a stable id from what the bank says about it (account, booking date, amount, the bank's own
references, the remittance) plus its occurrence among identical lines, so the same payment seen again (the
same file imported twice, or a camt.054 notification and the day's camt.053) is recognised.
"""

import csv
import hashlib
import importlib
import io
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from models.money import MoneyError, check_currency, to_minor
from o2c.matching import BankLine


class StatementError(ValueError):
    """A statement that cannot be imported, with where in the file the fault is."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class StatementFormat(StrEnum):
    CAMT053 = "camt.053"
    CAMT054 = "camt.054"
    BAI2 = "bai2"
    MT940 = "mt940"
    CSV = "csv"


@dataclass(frozen=True)
class StatementLine:
    booked_on: date
    amount_minor: int  # credits positive, debits negative
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    reference: str = ""  # structured creditor reference
    remittance: str = ""
    bank_reference: str = ""
    end_to_end_id: str = ""
    id: str = ""  # set by ``parse_statement``
    where: str = ""  # the line or element it came from, for people reading the exception queue

    def as_bank_line(self) -> BankLine:
        return BankLine(
            self.id,
            self.amount_minor,
            self.currency,
            self.booked_on,
            self.payer_name,
            self.payer_account,
            self.reference,
            self.remittance,
        )


@dataclass(frozen=True)
class Statement:
    format: StatementFormat
    statement_id: str
    account: str
    lines: list[StatementLine]
    digest: str = ""  # sha256 of the file as received

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.format}|{self.account}|{self.statement_id}|{self.digest}".encode()).hexdigest()[
            :32
        ]


@dataclass(frozen=True)
class CsvMapping:
    """Which column holds what in a bank's CSV export. Defaults are our own export's headers."""

    booked_on: str = "date"
    amount: str = "amount"
    currency: str = "currency"
    payer_name: str = "payer_name"
    payer_account: str = "payer_account"
    reference: str = "reference"
    remittance: str = "remittance"
    bank_reference: str = "bank_reference"
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False
    delimiter: str = ","
    default_currency: str = ""
    account: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: Iterable[str]) -> "CsvMapping":
        """From ``field=Column`` pairs (``--map booked_on=Buchungstag``) and options (``decimal_comma=yes``)."""
        values: dict[str, Any] = {}
        known = set(cls.__dataclass_fields__) - {"extra"}
        for item in spec:
            name, sep, value = item.partition("=")
            if not sep or name.strip() not in known:
                raise StatementError(
                    "--map", f"{item!r} is not FIELD=VALUE with FIELD one of {', '.join(sorted(known))}"
                )
            values[name.strip()] = (
                value.strip().lower() in ("1", "yes", "true") if name.strip() == "decimal_comma" else value
            )
        if "delimiter" in values and values["delimiter"] in ("tab", "\\t"):
            values["delimiter"] = "\t"
        return cls(**values)


def parse_statement(data: bytes, fmt: StatementFormat | None = None, mapping: CsvMapping | None = None) -> Statement:
    fmt = fmt or detect_format(data)
    digest = hashlib.sha256(data).hexdigest()
    parsers: dict[StatementFormat, Callable[[bytes], Statement]] = {
        StatementFormat.CAMT053: _camt,
        StatementFormat.CAMT054: _camt,
        StatementFormat.BAI2: _bai2,
        StatementFormat.MT940: _mt940,
        StatementFormat.CSV: lambda raw: _csv(raw, mapping or CsvMapping()),
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


def _currency(code: str, where: str) -> str:
    try:
        return check_currency(code)
    except MoneyError as exc:
        raise StatementError(where, str(exc)) from exc


def _amount(text: str | Decimal, currency: str, where: str) -> int:
    try:
        value = Decimal(text) if not isinstance(text, Decimal) else text
        return to_minor(value, check_currency(currency))
    except (InvalidOperation, MoneyError) as exc:
        raise StatementError(where, f"amount {text!s} {currency}: {exc}") from exc


def _decode(data: bytes, where: str = "file") -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementError(where, "not text in UTF-8 or Windows-1252")


# ---------------------------------------------------------------------------------------- camt.053 / .054


def _get(obj: Any, path: str) -> Any:
    """Follows a dotted path through the parsed document, None where any step is missing; a list step takes
    its first item. The schema versions name the same things slightly differently, hence the tolerance."""
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name, None)
        if isinstance(obj, list):
            obj = obj[0] if obj else None
    return obj


def _party_name(party: Any) -> str:
    return str(_get(party, "nm") or _get(party, "pty.nm") or "")


def _account_id(account: Any) -> str:
    return str(_get(account, "id.iban") or _get(account, "id.othr.id") or "")


def _camt(data: bytes) -> Statement:
    from xsdata.exceptions import ConverterWarning
    from xsdata.formats.dataclass.parsers import XmlParser
    from xsdata.formats.dataclass.parsers.config import ParserConfig

    match = re.search(rb"urn:iso:std:iso:20022:tech:xsd:(camt)\.(05[34])\.001\.(\d\d)", data[:4096])
    if match is None:
        raise StatementError("Document", "no camt.053 or camt.054 namespace")
    kind, version = match.group(2).decode(), match.group(3).decode()
    module_name = f"pyiso20022.camt.camt_{kind}_001_{version}.camt_{kind}_001_{version}"
    try:
        schema = importlib.import_module(module_name)
    except ImportError as exc:
        raise StatementError("Document", f"camt.{kind}.001.{version} is not a version we read") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConverterWarning)
            document = XmlParser(config=ParserConfig(fail_on_unknown_properties=True)).from_bytes(data, schema.Document)
    except ConverterWarning as exc:
        raise StatementError("element", str(exc).replace("\n", " ")) from exc
    except Exception as exc:  # xsdata's ParserError and the XML parser's own errors, with line and column
        raise StatementError("XML", str(exc)) from exc
    body = document.bk_to_cstmr_stmt if kind == "053" else document.bk_to_cstmr_dbt_cdt_ntfctn
    reports = body.stmt if kind == "053" else body.ntfctn
    lines: list[StatementLine] = []
    accounts: set[str] = set()
    ids: list[str] = []
    for r, report in enumerate(reports, start=1):
        ids.append(str(report.id))
        accounts.add(_account_id(report.acct))
        for n, entry in enumerate(report.ntry, start=1):
            where = f"{'Stmt' if kind == '053' else 'Ntfctn'}[{r}]/Ntry[{n}]"
            lines.extend(_camt_entry(entry, where))
    return Statement(
        StatementFormat.CAMT053 if kind == "053" else StatementFormat.CAMT054,
        "+".join(ids),
        "+".join(sorted(accounts)),
        lines,
    )


def _camt_entry(entry: Any, where: str) -> list[StatementLine]:
    if entry.amt is None or entry.cdt_dbt_ind is None:
        raise StatementError(where, "an entry needs Amt and CdtDbtInd")
    sign = 1 if str(entry.cdt_dbt_ind.value) == "CRDT" else -1
    booked = _get(entry, "bookg_dt.dt") or _get(entry, "bookg_dt.dt_tm") or _get(entry, "val_dt.dt")
    if booked is None:
        raise StatementError(where, "no booking or value date")
    booked_on = date(booked.year, booked.month, booked.day)
    currency = entry.amt.ccy
    details = [tx for d in entry.ntry_dtls for tx in d.tx_dtls]
    if not details:
        return [
            StatementLine(
                booked_on,
                sign * _amount(entry.amt.value, currency, f"{where}/Amt"),
                currency,
                remittance=str(entry.addtl_ntry_inf or ""),
                bank_reference=str(entry.acct_svcr_ref or ""),
                where=where,
            )
        ]
    lines = []
    for t, tx in enumerate(details, start=1):
        tx_where = f"{where}/NtryDtls/TxDtls[{t}]"
        amount = _get(tx, "amt") or _get(tx, "amt_dtls.tx_amt.amt") or (entry.amt if len(details) == 1 else None)
        if amount is None:
            raise StatementError(tx_where, "a batch entry's transaction has no amount")
        tx_sign = sign
        if getattr(tx, "cdt_dbt_ind", None) is not None:
            tx_sign = 1 if str(tx.cdt_dbt_ind.value) == "CRDT" else -1
        structured = [str(_get(s, "cdtr_ref_inf.ref") or "") for s in ((_get(tx, "rmt_inf") and tx.rmt_inf.strd) or [])]
        unstructured = list((_get(tx, "rmt_inf") and tx.rmt_inf.ustrd) or [])
        parties = _get(tx, "rltd_pties")
        payer = _get(parties, "dbtr") if tx_sign > 0 else _get(parties, "cdtr")
        payer_account = _get(parties, "dbtr_acct") if tx_sign > 0 else _get(parties, "cdtr_acct")
        lines.append(
            StatementLine(
                booked_on,
                tx_sign * _amount(amount.value, amount.ccy, f"{tx_where}/Amt"),
                amount.ccy,
                payer_name=_party_name(payer),
                payer_account=_account_id(payer_account),
                reference=" ".join(s for s in structured if s),
                remittance=" ".join(unstructured),
                bank_reference=str(_get(tx, "refs.acct_svcr_ref") or entry.acct_svcr_ref or ""),
                end_to_end_id=str(_get(tx, "refs.end_to_end_id") or ""),
                where=tx_where,
            )
        )
    return lines


# ---------------------------------------------------------------------------------------- BAI2


def _bai2(data: bytes) -> Statement:
    from bai2 import bai2 as reader
    from bai2.constants import TypeCodeTransaction

    text = _decode(data)
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
                        _currency(currency, where),
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


# ---------------------------------------------------------------------------------------- MT940


def _mt940(data: bytes) -> Statement:
    import mt940

    text = _decode(data)

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
                    _amount(Decimal(amount.amount), amount.currency, where),
                    _currency(amount.currency, where),
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


# ---------------------------------------------------------------------------------------- CSV


def _csv(data: bytes, mapping: CsvMapping) -> Statement:
    text = _decode(data)
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
        _currency(currency, f"line {row_no}, column {mapping.currency!r}")
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
                _amount(raw_amount, currency, f"line {row_no}, column {mapping.amount!r}"),
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
