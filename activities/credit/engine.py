"""The credit engine: the rules (block, currency, overdue invoices, risk class and score, the limit) on
today's figures."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from activities.credit.exposure import Exposure, customer_exposure
from activities.credit.risk import RiskScorer, payment_history
from models.activity_io import CreditAssessment, CreditFigures
from models.money import format_money
from models.policy import CreditRules
from models.tables import Customer, Order


class CreditEngine:
    def __init__(self, rules: CreditRules, scorer: RiskScorer) -> None:
        self.rules = rules
        self.scorer = scorer

    def assess(self, session: Session, order: Order, customer: Customer, this_order_minor: int) -> CreditAssessment:
        today = datetime.now(UTC).date()
        exposure = customer_exposure(
            session, customer.id, order.currency, order.id, today - timedelta(days=self.rules.overdue_hold_days)
        )
        risk = self.scorer.score(
            customer.id, payment_history(session, customer.id, today, self.rules.risk_lookback_days)
        )
        basis = _basis(customer, exposure)
        figures = CreditFigures(
            currency=order.currency,
            open_receivables_minor=exposure.open_receivables_minor,
            approved_not_invoiced_minor=exposure.reserved_elsewhere_minor,
            order_minor=this_order_minor,
            overdue_invoices=exposure.overdue_invoices,
            risk_class=customer.risk_class,
            risk=risk,
            basis=basis,
        )
        limit = customer.credit_limit_minor if customer.currency == order.currency else None
        decision, reason = self._decide(customer, order.currency, figures, limit)
        return CreditAssessment(
            decision=decision,
            reason=reason,
            exposure_minor=figures.exposure_minor,
            limit_minor=limit,
            figures=figures,
        )

    def _decide(self, customer: Customer, currency: str, figures: CreditFigures, limit: int | None) -> tuple[str, str]:
        if customer.blocked:
            return "reject", "customer is blocked"
        holds = []
        if customer.currency != currency:
            holds.append(f"the credit limit is in {customer.currency}, the order in {currency}")
        if figures.overdue_invoices:
            holds.append(
                f"{figures.overdue_invoices} invoice(s) overdue by more than {self.rules.overdue_hold_days} days"
            )
        if customer.risk_class in self.rules.review_risk_classes:
            holds.append(f"risk class {customer.risk_class} requires review")
        score = figures.risk.score
        if score is not None and score >= self.rules.risk_score_hold:
            holds.append(f"risk score {score} reaches {self.rules.risk_score_hold} ({figures.risk.source})")
        if limit is not None and figures.exposure_minor > limit:
            holds.append(
                f"exposure {format_money(figures.exposure_minor, currency)} would exceed the limit "
                f"{format_money(limit, currency)}"
            )
        if holds:
            return "hold", "; ".join(holds)
        if limit is None and customer.currency == currency and customer.credit_limit_minor is None:
            return "approve", "no credit limit set"
        return "approve", "within limit and risk rules"


def _basis(customer: Customer, exposure: Exposure) -> str:
    """A fingerprint of everything a decision depends on apart from the order itself: when it differs
    from the approval's, the customer's situation changed and the re-check looks again."""
    parts = [
        customer.currency,
        customer.credit_limit_minor,
        customer.blocked,
        customer.risk_class,
        exposure.others_open_minor,
        exposure.reserved_elsewhere_minor,
        exposure.overdue_invoices,
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]
