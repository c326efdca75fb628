"""Placing and cancelling an order: the order, its customer and lines, payment terms and method."""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import EmailStr, Field, StringConstraints, model_validator

from models.contract.base import Contract, CurrencyCode, Identifier, Reason, check_currency, check_money
from models.contract.decisions import FinanceDecision


class Customer(Contract):
    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr


class OrderLine(Contract):
    sku: Identifier
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=22, allow_inf_nan=False)]
    tax_rate_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)


class PaymentTerms(Contract):
    """Net N days from the invoice date, optionally to the end of that month, with an optional early
    payment discount ("2/10 net 30" is net_days=30, discount_percent=2, discount_days=10)."""

    net_days: Annotated[int, Field(ge=0, le=365)] = 30
    end_of_month: bool = False
    discount_percent: Annotated[Decimal, Field(ge=0, lt=100, decimal_places=4)] = Decimal(0)
    discount_days: Annotated[int, Field(ge=0, le=365)] = 0

    @model_validator(mode="after")
    def _discount_window(self) -> Self:
        if (self.discount_percent > 0) != (self.discount_days > 0):
            raise ValueError("discount_percent and discount_days go together")
        if self.discount_days > self.net_days:
            raise ValueError("the discount window cannot end after the due date")
        return self


class PaymentMethod(StrEnum):
    CARD_ON_FILE = "card_on_file"
    DEBIT_ON_FILE = "debit_on_file"  # a Stripe sepa_debit / us_bank_account PaymentMethod with its mandate
    BANK_TRANSFER = "bank_transfer"


ON_FILE = (PaymentMethod.CARD_ON_FILE, PaymentMethod.DEBIT_ON_FILE)  # charged through Stripe at invoicing


class InvoicingPolicy(StrEnum):
    PER_SHIPMENT = "per_shipment"
    ON_COMPLETION = "on_completion"


class PlaceOrder(Contract):
    """Workflow input of ``OrderToCash`` (id ``order-{order_id}``, task queue ``o2c``)."""

    order_id: Identifier
    customer: Customer
    currency: CurrencyCode
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    payment_terms: PaymentTerms | None = Field(
        default=None, description="omitted: the customer's default terms from the customer master (else net 30)"
    )
    payment_method: PaymentMethod = PaymentMethod.BANK_TRANSFER
    stripe_payment_method: Identifier | None = Field(
        default=None, description="Stripe PaymentMethod id for card_on_file or debit_on_file, e.g. pm_card_visa"
    )
    invoicing: InvoicingPolicy = InvoicingPolicy.ON_COMPLETION

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_currency(self.currency)
        skus = [line.sku for line in self.lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear on one line only")
        for line in self.lines:
            check_money(line.unit_price, self.currency, f"unit price of {line.sku}")
            check_money(line.unit_price * line.quantity, self.currency, f"line total of {line.sku}")
        if self.payment_method in ON_FILE and not self.stripe_payment_method:
            raise ValueError(f"{self.payment_method.value} needs stripe_payment_method")
        return self


class CancelOrder(FinanceDecision):
    reason: Reason
