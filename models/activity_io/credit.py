"""Credit checks: the figures, the customer's risk and the engine's answer."""

from typing import Literal

from models.activity_io.base import Message


class RiskScore(Message):
    """A customer's risk from 0 (nothing seen) to 100, with the facts it came from."""

    score: int | None
    source: str
    invoices_considered: int = 0
    late_payments: int = 0
    avg_days_beyond_terms: str = "0"
    disputes: int = 0


class CreditFigures(Message):
    """What a credit decision was taken on, in the order's currency (minor units)."""

    currency: str
    open_receivables_minor: int
    approved_not_invoiced_minor: int
    order_minor: int
    overdue_invoices: int
    risk_class: str
    risk: RiskScore
    basis: str = ""

    @property
    def exposure_minor(self) -> int:
        return self.open_receivables_minor + self.approved_not_invoiced_minor + self.order_minor


class CreditAssessment(Message):
    decision: Literal["approve", "hold", "reject"]
    reason: str
    exposure_minor: int
    limit_minor: int | None
    figures: CreditFigures | None = None
    unchanged: bool = False


class CreditRecheck(Message):
    order_id: str
    round: int


class CreditRecord(Message):
    """A credit decision to keep on record (the credit engine's are written by the check itself)."""

    decision: str
    by: str
    reason: str
    stage: Literal["order", "before_invoicing"] = "order"
    limit_minor: int | None = None
    figures: CreditFigures | None = None
