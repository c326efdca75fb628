"""A statement in one shape, whatever the bank sent: its lines, its format, and a CSV export's columns."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

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
    warnings: tuple[str, ...] = ()  # what was off the format and ignored, each naming the place; no money

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
