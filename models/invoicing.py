"""Pure invoicing rules: line arithmetic, due dates and ISO 11649 payment references.

One rounding rule (documented in the README): per line, discount and then tax are each rounded
half-up to the currency's exponent; the invoice total is the sum of the rounded lines, so lines always
add up to the total.
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from models.money import from_minor, round_money, to_minor

if TYPE_CHECKING:
    from models.policy import LateFee

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LineAmounts:
    gross_minor: int
    discount_minor: int
    net_minor: int
    tax_minor: int


def line_amounts(
    quantity: int, unit_price: Decimal, discount_percent: Decimal, tax_rate_percent: Decimal, currency: str
) -> LineAmounts:
    gross = round_money(unit_price * quantity, currency)
    discount = round_money(gross * discount_percent / HUNDRED, currency)
    net = gross - discount
    tax = round_money(net * tax_rate_percent / HUNDRED, currency)
    return LineAmounts(
        gross_minor=to_minor(gross, currency),
        discount_minor=to_minor(discount, currency),
        net_minor=to_minor(net, currency),
        tax_minor=to_minor(tax, currency),
    )


def due_date(issued_on: date, net_days: int, end_of_month: bool) -> date:
    """Net N days; with end_of_month, the last day of the month in which those N days end."""
    due = issued_on + timedelta(days=net_days)
    if end_of_month:
        due = due.replace(day=calendar.monthrange(due.year, due.month)[1])
    return due


def early_payment_discount(
    total_minor: int, discount_percent: Decimal, discount_days: int, issued_on: date, currency: str
) -> tuple[int, date | None]:
    """(discount in minor units, last day it may be taken), or (0, None) without such terms."""
    if discount_percent <= 0 or discount_days <= 0:
        return 0, None
    discount = round_money(from_minor(total_minor, currency) * discount_percent / HUNDRED, currency)
    return to_minor(discount, currency), issued_on + timedelta(days=discount_days)


def _iso7064_mod97(text: str) -> int:
    digits = "".join(str(int(ch, 36)) for ch in text)
    return int(digits) % 97


def rf_reference(base: str) -> str:
    """ISO 11649 structured creditor reference ("RF" + 2 check digits + up to 21 alphanumerics)."""
    body = "".join(ch for ch in base.upper() if ch.isalnum())
    if not 1 <= len(body) <= 21:
        raise ValueError(f"an RF reference needs 1 to 21 letters or digits, got {base!r}")
    check = 98 - _iso7064_mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def is_valid_rf_reference(reference: str) -> bool:
    compact = "".join(reference.split()).upper()
    if not (compact.startswith("RF") and 5 <= len(compact) <= 25 and compact[2:4].isdigit()):
        return False
    if not compact[4:].isalnum():
        return False
    return _iso7064_mod97(compact[4:] + compact[:4]) == 1


def late_fee_minor(fee: "LateFee", open_minor: int, due: date, on: date, currency: str) -> tuple[int, int]:
    """(fee in minor units, days late). Nothing within the grace days; otherwise the fixed amount for the
    currency plus interest per annum on what is open for every day since the due date (open * rate / 100 *
    days / 365, as ERPNext computes it), rounded once, and at least the minimum for the currency."""
    days_late = (on - due).days
    if open_minor <= 0 or days_late <= fee.grace_days:
        return 0, days_late
    interest = from_minor(open_minor, currency) * fee.annual_interest_percent / HUNDRED * days_late / 365
    amount = round_money(fee.fixed.get(currency, Decimal(0)) + interest, currency)
    amount = max(amount, fee.minimum.get(currency, Decimal(0)))
    return to_minor(amount, currency), days_late
