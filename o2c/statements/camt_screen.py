"""A camt document read against its schema before xsdata parses it: strict where money is concerned, tolerant
elsewhere.

Banks send files slightly off the schema every day (Odoo's own camt.053 test file says ``<BIC>`` where
camt.053.001.04 says ``<BICFI>``). An element the schema does not have, or a value it cannot read, is dropped
with a warning naming the element, unless it carries money: an amount, a currency, credit or debit, a date,
a reference, or an entry or transaction itself. Then the whole file is refused, naming the place, for a
statement read wrongly is worse than one not read.
"""

import re
import warnings
from collections import Counter
from typing import Any
from xml.etree import ElementTree

from o2c.statements.types import StatementError

# Elements whose own value, or any value inside them, decides money or whom it is from: never guessed at.
MONEY = frozenset(
    {
        "Amt",
        "InstdAmt",
        "TxAmt",
        "CntrValAmt",
        "AnncdPstngAmt",
        "PrtryAmt",
        "AmtDtls",
        "TtlNtries",
        "TtlCdtNtries",
        "TtlDbtNtries",
        "Sum",
        "TtlNetNtry",
        "Ccy",
        "CdtDbtInd",
        "RvslInd",
        "BookgDt",
        "ValDt",
        "Dt",
        "DtTm",
        "RmtInf",
        "Ustrd",
        "Strd",
        "CdtrRefInf",
        "RfrdDocInf",
        "Ref",
        "Nb",
        "Refs",
        "EndToEndId",
        "AcctSvcrRef",
        "TxId",
        "InstrId",
        "NtryRef",
    }
)
# An unknown element holding one of these hides entries or transactions: refused as well.
CONTAINERS = frozenset({"Stmt", "Ntfctn", "Rpt", "Ntry", "NtryDtls", "TxDtls", "Btch"})
_INDEXED = frozenset({"Stmt", "Ntfctn", "Rpt", "Ntry", "TxDtls"})
_BODIES = frozenset({"BkToCstmrStmt", "BkToCstmrDbtCdtNtfctn", "BkToCstmrAcctRpt"})
# An unknown element named like money (a misspelt <CdtDbtInd>, an <Amount>) is money written wrongly.
_LOOKALIKE = re.compile(r"^(?:AMT|CCY|CDTDBT|BOOKGDT|VALDT)|AMOUNT|CURRENCY|CREDIT|DEBIT")
_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,5})?")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def screen(data: bytes, document_class: type, schema_name: str) -> tuple[bytes, list[str]]:
    """The document with what it may lose dropped, and a warning for each kind of thing dropped."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    from xsdata.formats.dataclass.context import XmlContext

    try:
        root = fromstring(data)  # no DTDs, no entity expansion: a bank file has neither
    except DefusedXmlException as exc:
        raise StatementError("XML", f"{type(exc).__name__}: a bank statement has no DTD or entities") from exc
    except (ElementTree.ParseError, LookupError, ValueError):
        return data, []  # not well-formed: the strict parse refuses it, naming the first fault as it reads
    context = XmlContext()
    meta = context.build(document_class)
    if root.tag != meta.qname:
        raise StatementError(_local(root.tag), f"the document's root is not {_local(meta.qname)} of {schema_name}")
    screening = _Screening(context, schema_name)
    screening.walk(root, meta, "", _local(root.tag), False)
    notes = [
        f"{screening.first[kind]}: {kind[1]}; ignored" + (f" ({count} times)" if count > 1 else "")
        for kind, count in screening.dropped.items()
    ]
    return ElementTree.tostring(root, encoding="utf-8"), notes


class _Screening:
    """One document's walk: the schema's classes, and what was dropped (by kind, where first)."""

    def __init__(self, context: Any, schema_name: str) -> None:
        self.context = context
        self.schema_name = schema_name
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.first: dict[tuple[str, str], str] = {}

    def walk(self, element: ElementTree.Element, meta: Any, path: str, shape: str, in_money: bool) -> None:
        """``path`` names the element for people (Stmt[1]/Ntry[2]/...), ``shape`` the same without the
        indexes, so one kind of fault repeated in every entry is one warning."""
        seen: Counter[str] = Counter()
        siblings = Counter(child.tag for child in element)
        for child in list(element):
            name = _local(child.tag)
            seen[name] += 1
            index = f"[{seen[name]}]" if siblings[child.tag] > 1 or name in _INDEXED else ""
            # places are named from the statement down, as the rest of the import names them
            child_path = "" if name in _BODIES else "/".join(p for p in (path, name) if p) + index
            child_shape = f"{shape}/{name}"
            var = next(meta.find_children(child.tag), None)
            if var is not None and var.is_wildcard:
                continue  # an extension point (SplmtryData's Envlp): anything goes, and nothing of it is read
            if var is None:
                self._unknown(element, child, child_path, child_shape, in_money)
                continue
            child_in_money = in_money or name in MONEY
            child_meta = self.context.build(var.clazz) if var.clazz is not None else None
            value = child_meta.text if child_meta is not None else var
            if value is not None and (child.text or "").strip():
                try:
                    _check_value(child, value.types, value.format, child_path, child_in_money)
                except StatementError:
                    raise
                except ValueError as exc:
                    if var.required:
                        raise StatementError(child_path, f"{exc}, and {self.schema_name} requires it") from exc
                    self._drop(element, child, child_path, (child_shape, str(exc)))
                    continue
            if child_meta is not None:
                self.walk(child, child_meta, child_path, child_shape, child_in_money)

    def _unknown(
        self, parent: ElementTree.Element, child: ElementTree.Element, path: str, shape: str, in_money: bool
    ) -> None:
        name = _local(child.tag)
        lookalike = _LOOKALIKE.search(name.upper())
        if lookalike is not None:
            raise StatementError(
                path,
                f"XML element <{name}> is not part of {self.schema_name} and looks like money "
                f"({lookalike.group()}); refused rather than read wrongly",
            )
        carried = {_local(e.tag) for e in child.iter()} & (MONEY | CONTAINERS)
        if carried or in_money:
            raise StatementError(
                path,
                f"<{name}> is not part of {self.schema_name} here and carries "
                f"{', '.join(sorted(carried)) or 'money'}; refused rather than read wrongly",
            )
        self._drop(parent, child, path, (shape, f"<{name}> is not part of {self.schema_name}"))

    def _drop(self, parent: ElementTree.Element, child: ElementTree.Element, path: str, kind: tuple[str, str]) -> None:
        parent.remove(child)
        self.dropped[kind] += 1
        self.first.setdefault(kind, path)


def _check_value(element: ElementTree.Element, types: Any, fmt: str | None, path: str, in_money: bool) -> None:
    """Raises StatementError (money) or ValueError (anything else) for a value the schema's type cannot hold."""
    from decimal import Decimal

    from xsdata.exceptions import ConverterError, ConverterWarning
    from xsdata.formats.converter import converter

    if all(kind is str for kind in types):
        return  # any text is a string (the schema's patterns and lengths are not checked, here or by xsdata)
    text = (element.text or "").strip()
    if Decimal in types and not _AMOUNT.fullmatch(text):
        problem = f"element <{_local(element.tag)}> holds {text!r}, not an amount (digits, a point, up to 5 decimals)"
        raise StatementError(path, problem) if in_money else ValueError(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConverterWarning)
        try:
            converter.deserialize(text, types, format=fmt)
        except (ConverterWarning, ConverterError) as exc:
            problem = f"element <{_local(element.tag)}> holds {text!r}, not a value it takes"
            raise (StatementError(path, problem) if in_money else ValueError(problem)) from exc
