"""An invoice or credit note as both renderers see it: parties, lines and totals in minor units."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from models.money import exponent, from_minor


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: list[str]
    country: str
    email: str
    vat_id: str | None = None


@dataclass(frozen=True)
class DocumentLine:
    line_no: int
    sku: str
    description: str
    quantity: int
    unit_price: Decimal
    discount_minor: int
    net_minor: int
    tax_rate_percent: Decimal
    tax_minor: int


@dataclass(frozen=True)
class BillingDocument:
    kind: Literal["invoice", "credit_note"]
    number: str
    issued_on: date
    currency: str
    order_id: str
    seller: Party
    buyer: Party
    lines: list[DocumentLine]
    net_minor: int
    tax_minor: int
    total_minor: int
    due_date: date | None = None
    payment_reference: str | None = None
    iban: str = ""
    bic: str = ""
    terms: str = ""
    discount_minor: int = 0
    discount_until: date | None = None
    deliveries: list[str] = field(default_factory=list)
    delivered_on: date | None = None
    credited_invoice: str | None = None
    reason: str | None = None
    payment_link: str | None = None

    @property
    def title(self) -> str:
        return "Invoice" if self.kind == "invoice" else "Credit note"

    def money(self, minor: int) -> str:
        return f"{from_minor(minor, self.currency):,.{exponent(self.currency)}f} {self.currency}"

    def amount(self, minor: int) -> str:
        """An amount as UBL writes it: plain decimal with the currency's exponent."""
        return f"{from_minor(minor, self.currency):.{exponent(self.currency)}f}"
