"""ISO 20022 camt.053 (statements) and camt.054 (notifications), read by pyiso20022 on xsdata once
``camt_screen`` has dropped, with a warning, what is off the schema and does not carry money."""

import importlib
import re
import warnings
from datetime import date
from typing import Any

from o2c.statements.camt_screen import screen
from o2c.statements.types import Statement, StatementError, StatementFormat, StatementLine
from o2c.statements.values import read_amount


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


def parse(data: bytes) -> Statement:
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
    screened, notes = screen(data, schema.Document, f"camt.{kind}.001.{version}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConverterWarning)
            document = XmlParser(config=ParserConfig(fail_on_unknown_properties=True)).from_bytes(
                screened, schema.Document
            )
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
        warnings=tuple(notes),
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
    entry_amount = read_amount(entry.amt.value, currency, f"{where}/Amt")  # checked even where details split it
    details = [tx for d in entry.ntry_dtls for tx in d.tx_dtls]
    if not details:
        return [
            StatementLine(
                booked_on,
                sign * entry_amount,
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
                tx_sign * read_amount(amount.value, amount.ccy, f"{tx_where}/Amt"),
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
