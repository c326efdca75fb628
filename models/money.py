"""Currencies and money: amounts are ``Decimal`` at the edges and integer minor units inside.

Exponents come from CLDR through Babel (JPY 0, USD 2, KWD 3), so a new currency needs no code change.
One rounding rule everywhere: ROUND_HALF_UP to the currency's exponent, applied per line.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

# ISO 4217 codes that are not money a customer pays in: precious metals, fund and test codes.
_NOT_PAYABLE = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"})
# Read once at import, so workflow code never touches Babel's data files.
_EXPONENTS: dict[str, int] = {
    code: int(get_currency_precision(code)) for code in list_currencies() if code not in _NOT_PAYABLE
}
CURRENCIES: frozenset[str] = frozenset(_EXPONENTS)

# No real order is larger than this (10^15 minor units, e.g. ten trillion dollars); larger is a bug.
MAX_MINOR_UNITS = 10**15


class MoneyError(ValueError):
    """An amount or currency that cannot be money in this system."""


def check_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise MoneyError(f"unknown currency {code!r}: use an ISO 4217 code such as USD, EUR or JPY")
    return code


def exponent(currency: str) -> int:
    return _EXPONENTS[check_currency(currency)]


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def decimals_of(amount: Decimal) -> int:
    exp = amount.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def check_precision(amount: Decimal, currency: str, what: str = "amount") -> Decimal:
    """Refuses an amount with more decimals than the currency has (1.005 USD, 10.5 JPY)."""
    if not amount.is_finite():
        raise MoneyError(f"{what} {amount} is not a finite number")
    allowed = exponent(currency)
    if decimals_of(amount) > allowed:
        raise MoneyError(f"{what} {amount} has more decimals than {currency} allows ({allowed})")
    return amount


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact conversion; an amount that does not fit the currency's exponent is an error, not rounded."""
    check_precision(amount, currency)
    try:
        minor = int(amount.scaleb(exponent(currency)).to_integral_exact())
    except InvalidOperation as exc:
        raise MoneyError(f"amount {amount} is not representable in {currency}") from exc
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError(f"amount {amount} {currency} is beyond any plausible order")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency)).quantize(quantum(currency))


def format_money(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"
