"""Invoicing requests: a charge billed after invoicing, a document sent again."""

from decimal import Decimal
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from models.contract.base import Amount, Contract, Identifier, Person, Reason
from models.contract.decisions import FinanceDecision


class AddCharge(FinanceDecision):
    """A charge that came up after invoicing (a late fee, a surcharge): billed on an invoice of its own."""

    charge_id: Identifier
    description: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    amount: Amount = Field(description="net amount, in the order's currency")
    tax_rate_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)
    reason: Reason


class ResendDocument(Contract):
    """Input of ``ResendDocument``: send an issued invoice or credit note again, on purpose."""

    number: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}-\d{4}-\d{6}$")]
    by: Person
    to: EmailStr | None = Field(default=None, description="defaults to the customer's billing email")
    request_id: Identifier | None = Field(default=None, description="the same id again sends nothing more")
