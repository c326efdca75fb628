"""What every contract type shares: the base model, the constrained field types and the money checks."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.money import CURRENCIES, MAX_MINOR_UNITS, MoneyError, check_precision, exponent

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", strip_whitespace=True)]
Person = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)]
Reason = Annotated[str, StringConstraints(min_length=3, max_length=2000, strip_whitespace=True)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=22, allow_inf_nan=False)]
DocumentNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}-\d{4}-\d{6}$")]


class Contract(BaseModel):
    """Unknown fields are refused, so that a misspelt field fails loudly instead of being ignored; so is a NUL
    character in any text."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL cannot store a NUL in text: one accepted here would fail its activity on every retry."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a NUL character (\\x00) is not allowed in text")
        return value


def check_money(amount: Decimal, currency: str, what: str) -> None:
    try:
        check_precision(amount, currency, what)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    if amount.scaleb(exponent(currency)) > MAX_MINOR_UNITS:
        raise ValueError(f"{what} {amount} {currency} is beyond any plausible order")


def check_currency(currency: str) -> None:
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}: use an ISO 4217 code such as USD, EUR or JPY")
