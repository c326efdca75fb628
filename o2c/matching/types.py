"""What the matching engine reads and answers: open invoices, customers, bank lines, and proposals."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Flag(StrEnum):
    PARTIAL = "partial"  # less than the invoice: applied, the rest stays due and dunning goes on
    SHORT = "short"  # a little less than the invoice: applied, flagged for a dispute
    OVERPAID = "overpaid"  # more than the invoices: the rest is held as the customer's credit
    DISCOUNT = "discount"  # paid within the early-payment window, net of the discount
    ALREADY_PAID = "already_paid"  # names an invoice with nothing left open: a duplicate payment?


@dataclass(slots=True)
class OpenInvoice:
    number: str
    customer_id: str
    currency: str
    open_minor: int
    total_minor: int
    payment_reference: str = ""
    order_id: str = ""
    due_date: date | None = None
    discount_minor: int = 0
    discount_until: date | None = None


@dataclass(slots=True, frozen=True)
class Customer:
    id: str
    name: str
    accounts: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class BankLine:
    id: str
    amount_minor: int  # credits positive; debits are not customer money and are never matched
    currency: str
    booked_on: date
    payer_name: str = ""
    payer_account: str = ""
    reference: str = ""  # the structured creditor reference field, where the format has one
    remittance: str = ""  # free text


@dataclass(slots=True, frozen=True)
class Allocation:
    invoice_number: str
    amount_minor: int  # cash applied
    discount_minor: int = 0  # early-payment discount taken with it
    order_id: str = ""


@dataclass(slots=True, frozen=True)
class Proposal:
    line_id: str
    tier: int  # 0: nothing found
    rule: str
    confidence: float
    auto: bool
    customer_id: str | None = None
    allocations: tuple[Allocation, ...] = ()
    unapplied_minor: int = 0
    flags: tuple[Flag, ...] = ()
    reason: str = ""

    @property
    def invoice_numbers(self) -> tuple[str, ...]:
        return tuple(a.invoice_number for a in self.allocations)


@dataclass(slots=True)
class Candidate:
    """A proposal in the making: a tier's allocations and how sure it is of them."""

    allocations: list[Allocation]
    confidence: float
    rule: str
    tier: int
    customer_id: str
    flags: list[Flag] = field(default_factory=list)
    unapplied_minor: int = 0
    final: bool = False  # what the tier read rules out a later tier's guess: if not automatic, a person decides


@contextmanager
def bulk() -> Iterator[None]:
    """Around matching in bulk: millions of small acyclic objects, which the cyclic garbage collector would
    only walk over and over (a million lines took 67.5 s with it, 52.6 s without)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
