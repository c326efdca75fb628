"""Values as statements carry them: currency codes, amounts and text, refused with where they stood."""

from decimal import Decimal, InvalidOperation

from models.money import MoneyError, check_currency, to_minor
from o2c.statements.types import StatementError


def read_currency(code: str, where: str) -> str:
    try:
        return check_currency(code)
    except MoneyError as exc:
        raise StatementError(where, str(exc)) from exc


def read_amount(text: str | Decimal, currency: str, where: str) -> int:
    try:
        value = Decimal(text) if not isinstance(text, Decimal) else text
        return to_minor(value, check_currency(currency))
    except (InvalidOperation, MoneyError) as exc:
        raise StatementError(where, f"amount {text!s} {currency}: {exc}") from exc


def read_text(data: bytes, where: str = "file") -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementError(where, "not text in UTF-8 or Windows-1252")
