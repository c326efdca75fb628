"""What the webhook reads from Stripe's events, checked before anything is acted on.

Only the fields the receiver uses are declared (whatever else Stripe sends is ignored), each with the type and
bounds our contract and tables need, so an object that passes converts to the contract without fail, and one
that does not is refused naming the field (``reason``). Both Stripe's current shapes (its OpenAPI fixtures) and
localstripe's older ones pass: ``amount_received`` may be missing, refunds may come inside the charge or not.
Stripe sends its amounts as integers in minor units, its currencies in lower case and metadata values as
strings; anything else is refused, never coerced.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from activities.payments import METADATA_KEY
from models.activity_io import StripeRefundSeen
from models.contract import (
    ChargebackClosed,
    ChargebackOpened,
    Identifier,
    PaymentChannel,
    PaymentFailed,
    PaymentReceived,
    Text,
)
from models.money import MAX_MINOR_UNITS, check_currency, from_minor

# Largest unix time a datetime holds (9999-12-31T23:59:59Z); beyond it fromtimestamp overflows.
LAST_TIMESTAMP = 253_402_300_799


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _null_is_empty(value: Any) -> Any:
    return {} if value is None else value


def _expanded_to_id(value: Any) -> Any:
    """Stripe sends a related object as its id, or expanded as the object."""
    return value.get("id") if isinstance(value, dict) else value


Timestamp = Annotated[StrictInt, Field(ge=0, le=LAST_TIMESTAMP)]
MinorUnits = Annotated[StrictInt, Field(gt=0, le=MAX_MINOR_UNITS)]
Currency = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(check_currency)
]
RelatedId = Annotated[Identifier | None, BeforeValidator(_expanded_to_id)]
Status = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class IntentMetadata(StripeObject):
    """What our PaymentIntents carry (``activities.payments``, the pay page); blank counts as absent."""

    order_id: Annotated[Identifier | None, BeforeValidator(_blank_is_none)] = None
    o2c_channel: Annotated[PaymentChannel | None, BeforeValidator(_blank_is_none)] = None
    invoice_number: Text = ""
    idempotency_key: Annotated[str | None, Field(alias=METADATA_KEY)] = None


class PaymentError(StripeObject):
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


class PaymentIntent(StripeObject):
    id: Identifier
    amount: MinorUnits
    amount_received: Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)] | None = None
    currency: Currency
    metadata: Annotated[IntentMetadata, BeforeValidator(_null_is_empty)] = IntentMetadata()
    last_payment_error: PaymentError | None = None

    def payment(self, created: int) -> PaymentReceived:
        return PaymentReceived(
            payment_id=self.id,
            amount=from_minor(self.amount_received or self.amount, self.currency),
            currency=self.currency,
            method=self.metadata.o2c_channel or PaymentChannel.CARD,
            received_at=datetime.fromtimestamp(created, UTC),
            reference=self.metadata.invoice_number,
        )

    def failure(self) -> PaymentFailed:
        error = self.last_payment_error or PaymentError()
        return PaymentFailed(
            payment_id=self.id,
            amount=from_minor(self.amount, self.currency),
            currency=self.currency,
            code=(error.decline_code or error.code or "")[:200],
            message=(error.message or "")[:500],
        )


class EvidenceDetails(StripeObject):
    due_by: Timestamp | None = None


class Dispute(StripeObject):
    id: Identifier
    amount: MinorUnits
    currency: Currency
    charge: RelatedId = None
    payment_intent: RelatedId = None
    reason: Text | None = None
    status: Status
    evidence_details: EvidenceDetails | None = None

    @model_validator(mode="after")
    def _payment_named(self) -> Self:
        if self.payment_intent is None and self.charge is None:
            raise ValueError("a dispute names the payment intent or the charge it disputes")
        return self

    def opened(self) -> ChargebackOpened:
        due = self.evidence_details.due_by if self.evidence_details else None
        return ChargebackOpened(
            dispute_id=self.id,
            payment_intent_id=self.payment_intent,
            charge_id=self.charge,
            amount_minor=self.amount,
            currency=self.currency,
            reason=self.reason or "",
            evidence_due_by=datetime.fromtimestamp(due, UTC) if due else None,
        )

    def closed(self, created: int) -> ChargebackClosed:
        """Only for a dispute the bank decided (status won or lost)."""
        return ChargebackClosed.model_validate(
            {"dispute_id": self.id, "status": self.status, "closed_at": datetime.fromtimestamp(created, UTC)}
        )


class RefundMetadata(StripeObject):
    o2c_refund_key: str | None = None


class Refund(StripeObject):
    id: Identifier
    amount: MinorUnits
    currency: Currency
    charge: RelatedId = None
    payment_intent: RelatedId = None
    status: Annotated[Status | None, BeforeValidator(_blank_is_none)] = None
    metadata: Annotated[RefundMetadata, BeforeValidator(_null_is_empty)] = RefundMetadata()

    def seen(self) -> StripeRefundSeen:
        return StripeRefundSeen(
            refund_id=self.id,
            payment_intent_id=self.payment_intent,
            charge_id=self.charge,
            amount_minor=self.amount,
            currency=self.currency,
            status=self.status or "succeeded",
            o2c_key=self.metadata.o2c_refund_key,
        )


class RefundList(StripeObject):
    data: list[Refund] | None = None


class Charge(StripeObject):
    """``charge.refunded``: older API versions list the refunds inside the charge; newer ones leave it out."""

    refunds: RefundList | None = None

    def all_refunds(self) -> list[Refund]:
        return (self.refunds.data if self.refunds else None) or []


class EventData(StripeObject):
    obj: Annotated[dict[str, Any], Field(alias="object")]


class Event(StripeObject):
    """The envelope; ``data.object`` is checked against its type's shape once the type is known."""

    id: Identifier
    type: Annotated[str, StringConstraints(max_length=80)]
    created: Timestamp
    data: EventData


def reason(exc: ValidationError, within: str = "") -> str:
    """Where and what, for the answer and the log, without echoing the values (they may be customer data)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in (within, *error["loc"]) if part != "") or "body"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
