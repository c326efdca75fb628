"""The customer master: changes finance makes to a customer and what they changed."""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import EmailStr, Field, StringConstraints, model_validator

from models.contract.base import Contract, CurrencyCode, Identifier, Person, Reason, check_currency, check_money
from models.contract.orders import PaymentTerms


class RiskClass(StrEnum):
    """Finance's own judgement of a customer; which classes need review is a credit rule."""

    LOW = "low"
    STANDARD = "standard"
    HIGH = "high"
    REVIEW = "review"


class ChangeCustomer(Contract):
    """Input of ``CustomerMasterChange``: a change finance makes to one customer's master data.

    Fields left out stay as they are. A customer not yet in the master is created, which needs ``name``,
    ``email`` and ``currency``. ``change_id`` makes a resend harmless (the client fills one in).
    """

    customer_id: Identifier
    by: Person
    reason: Reason
    change_id: Identifier | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: EmailStr | None = None
    currency: CurrencyCode | None = Field(default=None, description="currency of the credit limit")
    credit_limit: Annotated[Decimal, Field(ge=0, max_digits=22, allow_inf_nan=False)] | None = None
    risk_class: RiskClass | None = None
    payment_terms: PaymentTerms | None = Field(default=None, description="default terms for new orders")
    billing_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    billing_email: EmailStr | None = None
    billing_address: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    vat_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9 .-]{1,29}$")] | None = None
    blocked: bool | None = None
    dunning_segment: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")] | None = Field(
        default=None, description="which dunning policy applies to the customer's new orders"
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        changes = self.model_dump(exclude={"customer_id", "by", "reason", "change_id"}, exclude_none=True)
        if not changes:
            raise ValueError("nothing to change: give at least one field")
        if self.currency is not None:
            check_currency(self.currency)
            if self.credit_limit is not None:
                check_money(self.credit_limit, self.currency, "credit limit")
        return self


class FieldChange(Contract):
    field: str
    old: str | None
    new: str | None


class CustomerChanged(Contract):
    """Result of ``CustomerMasterChange``."""

    customer_id: str
    change_id: str
    created: bool
    changes: list[FieldChange]
    billing_changed: bool
    accounts_receivable_notified: bool
