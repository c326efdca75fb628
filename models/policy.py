"""Policies as data: what finance configures, read by activities and interpreted by the workflow.

The dunning policy follows Kill Bill and Odoo: steps relative to the due date (negative = before it),
each with a level, an email template and actions. Finance changes it without touching code.
"""

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.contract import RiskClass
from models.money import MoneyError, check_precision


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DunningAction(StrEnum):
    REMIND = "remind"  # email the customer the step's template
    ESCALATE = "escalate"  # email the collections team and open a collection task
    LATE_FEE = "late_fee"  # raise a late-fee invoice (never onto the overdue invoice itself)
    BLOCK_CREDIT = "block_credit"  # block the customer: new orders are rejected until finance unblocks


class LateFee(Policy):
    """``fixed`` (per currency) + interest per annum on what is open for the days late beyond the grace
    days, at least ``minimum`` (per currency). Nothing within the grace days."""

    fixed: dict[str, Decimal] = {}
    annual_interest_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(0)
    minimum: dict[str, Decimal] = {}
    grace_days: Annotated[int, Field(ge=0, le=365)] = 0
    tax_rate_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(0)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        for field_name in ("fixed", "minimum"):
            for currency, amount in getattr(self, field_name).items():
                if amount < 0:
                    raise ValueError(f"{field_name} {currency}: amounts cannot be negative")
                try:
                    check_precision(amount, currency, f"{field_name} {currency}")
                except MoneyError as exc:
                    raise ValueError(str(exc)) from exc
        if not self.fixed and not self.annual_interest_percent:
            raise ValueError("a late fee needs a fixed amount or an interest rate")
        return self


class DunningStep(Policy):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    offset_days: Annotated[int, Field(ge=-60, le=365)]
    level: Annotated[int, Field(ge=0, le=20)]
    template: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    actions: Annotated[list[DunningAction], Field(min_length=1)]
    late_fee: LateFee | None = None

    @model_validator(mode="after")
    def _fee_given(self) -> Self:
        if (DunningAction.LATE_FEE in self.actions) != (self.late_fee is not None):
            raise ValueError("the late_fee action and the late_fee settings go together")
        return self


class DunningPolicy(Policy):
    steps: list[DunningStep]
    promise_grace_days: Annotated[int, Field(ge=0, le=30)] = 2
    write_off_level: Annotated[int, Field(ge=0, le=20)] | None = Field(
        default=None,
        description="the dunning level from which finance may write off alone; earlier a finance manager "
        "approves (None: the level of the last step that reminds the customer, the final notice)",
    )

    @property
    def write_off_from(self) -> int:
        if self.write_off_level is not None:
            return self.write_off_level
        return max((s.level for s in self.steps if DunningAction.REMIND in s.actions), default=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        offsets = [step.offset_days for step in self.steps]
        if offsets != sorted(set(offsets)):
            raise ValueError("dunning steps must have distinct offsets in ascending order")
        levels = [step.level for step in self.steps]
        if levels != sorted(levels):
            raise ValueError("dunning levels may not go down from one step to the next")
        return self


DEFAULT_DUNNING = DunningPolicy(
    steps=[
        DunningStep(name="pre-due", offset_days=-3, level=0, template="pre_due", actions=["remind"]),
        DunningStep(name="overdue", offset_days=1, level=1, template="overdue", actions=["remind"]),
        DunningStep(name="second", offset_days=7, level=2, template="overdue", actions=["remind"]),
        DunningStep(name="third", offset_days=14, level=3, template="overdue", actions=["remind"]),
        DunningStep(name="final", offset_days=30, level=4, template="final_notice", actions=["remind"]),
        DunningStep(name="escalation", offset_days=45, level=5, template="escalation", actions=["escalate"]),
    ]
)


class CreditRules(Policy):
    """How the credit engine decides. Every field is an ``O2C_CREDIT_*`` setting; the README lists the defaults.

    In order: reject when the customer is blocked; hold when the limit is in another currency, when an
    invoice is overdue by more than ``overdue_hold_days``, when the risk class is one of
    ``review_risk_classes``, when the risk score reaches ``risk_score_hold``, or when the exposure would
    exceed the limit; approve otherwise.
    """

    overdue_hold_days: Annotated[int, Field(ge=0, le=3650)] = 30
    review_risk_classes: frozenset[str] = frozenset({"high", "review"})
    risk_score_hold: Annotated[int, Field(ge=0, le=101)] = 60
    risk_lookback_days: Annotated[int, Field(ge=30, le=3650)] = 365
    risk_scorer: str = "payment-history"

    @model_validator(mode="after")
    def _known_classes(self) -> Self:
        unknown = self.review_risk_classes - {r.value for r in RiskClass}
        if unknown:
            raise ValueError(f"unknown risk classes {sorted(unknown)}: use {', '.join(r.value for r in RiskClass)}")
        return self


class DunningPolicies(Policy):
    """The dunning policy file: a default policy and, by customer segment, others (``dunning_segment`` in
    the customer master). A file holding a single policy (``steps`` at the top) is the default alone."""

    default: DunningPolicy
    segments: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")], DunningPolicy] = {}

    def for_segment(self, segment: str | None) -> DunningPolicy:
        return self.segments.get(segment or "", self.default)


class OrderPolicy(Policy):
    """Everything time-related the workflow needs, handed to it once by the first activity."""

    credit_hold_expiry: timedelta = timedelta(days=7)
    credit_hold_reminder: timedelta = timedelta(days=2)
    credit_recheck_before_invoicing: bool = True
    card_retry_days: tuple[int, ...] = (1, 3, 7)
    email_max_attempts: int = Field(default=0, ge=0)  # 0: an email is retried until SendGrid takes it
    fulfillment_alert: timedelta = timedelta(days=14)
    dunning: DunningPolicy = DEFAULT_DUNNING
