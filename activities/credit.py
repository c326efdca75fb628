"""Credit management: exposure, risk scores and the credit engine's decisions.

Exposure, per customer and currency, is open receivables (invoiced, unpaid) + approved orders not yet
invoiced (their reservations) + this order. A check holds the customer's row lock while it reads the
exposure and writes the reservation (PostgreSQL: ``SELECT … FOR NO KEY UPDATE``; SQLite: every transaction
starts with ``BEGIN IMMEDIATE``), so two orders of one customer checked at once are decided one after
the other, the second seeing the first's reservation.
"""

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, col, select
from temporalio import activity

from activities.context import log
from activities.orders import audit, load_order
from models.activity_io import CreditAssessment, CreditCheck, CreditFigures, CreditRecheck, CreditRecord, RiskScore
from models.money import format_money
from models.policy import CreditRules
from models.tables import (
    BalanceAdjustment,
    CreditDecision,
    Customer,
    Dispute,
    Invoice,
    Order,
    Payment,
    PaymentApplication,
)
from o2c.platform.db import insert_new, is_postgres, transaction

# ------------------------------------------------------------------------------------------- risk


@dataclass(frozen=True)
class PaymentHistory:
    """What a customer's own record says: settled and overdue invoices within the look-back window."""

    invoices_considered: int
    late_payments: int
    days_beyond_terms: int
    disputes: int

    @property
    def avg_days_beyond_terms(self) -> Decimal:
        if not self.invoices_considered:
            return Decimal(0)
        return (Decimal(self.days_beyond_terms) / self.invoices_considered).quantize(Decimal("0.1"))


class RiskScorer(Protocol):
    """Turns a customer into a risk score. An external bureau's client plugs in here
    (``O2C_CREDIT_RISK_SCORER=package.module:factory``, the factory called with no arguments)."""

    name: str

    def score(self, customer_id: str, history: PaymentHistory) -> RiskScore: ...


class PaymentHistoryScorer:
    """The built-in score, from the customer's own payment history:
    ``2 * average days beyond terms + 40 * share of late payments + 10 * disputes``, capped at 100.
    A customer without history gets no score (None), which never holds an order by itself."""

    name = "payment-history"

    def score(self, customer_id: str, history: PaymentHistory) -> RiskScore:
        if history.invoices_considered == 0 and history.disputes == 0:
            return RiskScore(score=None, source=self.name)
        late_share = (
            Decimal(history.late_payments) / history.invoices_considered if history.invoices_considered else Decimal(0)
        )
        raw = 2 * history.avg_days_beyond_terms + 40 * late_share + 10 * history.disputes
        return RiskScore(
            score=min(100, int(raw.to_integral_value())),
            source=self.name,
            invoices_considered=history.invoices_considered,
            late_payments=history.late_payments,
            avg_days_beyond_terms=str(history.avg_days_beyond_terms),
            disputes=history.disputes,
        )


def load_scorer(spec: str) -> RiskScorer:
    if spec == PaymentHistoryScorer.name:
        return PaymentHistoryScorer()
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"O2C_CREDIT_RISK_SCORER={spec!r}: use 'payment-history' or 'package.module:factory'")
    factory: Callable[[], RiskScorer] = getattr(importlib.import_module(module_name), attribute)
    return factory()


def payment_history(session: Session, customer_id: str, today: date, lookback_days: int) -> PaymentHistory:
    """Invoices issued in the window: settled ones by how late their last payment (or write-off) came,
    open ones by how far past due they are today; fully credited and not-yet-due ones do not count."""
    since = today - timedelta(days=lookback_days)
    # One statement however long the customer's history: when each invoice was last paid or written off.
    paid_at = (
        select(func.max(Payment.received_at))
        .join(PaymentApplication, col(PaymentApplication.payment_id) == col(Payment.id))
        .where(col(PaymentApplication.invoice_number) == col(Invoice.number))
        .correlate(Invoice)
        .scalar_subquery()
    )
    written_off_at = (
        select(func.max(BalanceAdjustment.created_at))
        .where(
            col(BalanceAdjustment.order_id) == col(Invoice.order_id),
            col(BalanceAdjustment.invoice_number) == col(Invoice.number),
            BalanceAdjustment.kind == "write_off",
        )
        .correlate(Invoice)
        .scalar_subquery()
    )
    invoices = session.execute(
        sa_select(col(Invoice.open_minor), col(Invoice.due_date), paid_at, written_off_at).where(
            col(Invoice.customer_id) == customer_id, col(Invoice.issued_on) >= since
        )
    ).all()
    considered = late = days_beyond = 0
    for open_minor, due_on, paid, written_off in invoices:
        if open_minor > 0:
            settled_on: date | None = today if due_on < today else None
        else:
            moments = [m for m in (paid, written_off) if m is not None]
            settled_on = max(moments).date() if moments else None
        if settled_on is None:
            continue
        considered += 1
        beyond = max(0, (settled_on - due_on).days)
        days_beyond += beyond
        late += beyond > 0
    disputes = session.exec(
        select(func.count())
        .select_from(Dispute)
        .join(Order, col(Order.id) == col(Dispute.order_id))
        .where(Order.customer_id == customer_id, Dispute.opened_at >= datetime.combine(since, datetime.min.time(), UTC))
    ).one()
    return PaymentHistory(considered, late, days_beyond, int(disputes))


# -------------------------------------------------------------------------------------- exposure


@dataclass(frozen=True)
class Exposure:
    open_receivables_minor: int
    others_open_minor: int
    reserved_elsewhere_minor: int
    overdue_invoices: int


def customer_exposure(
    session: Session, customer_id: str, currency: str, order_id: str, overdue_before: date
) -> Exposure:
    """One statement: the four figures as scalar subqueries (four round trips before, each in the
    credit check's hold on the database's write lock)."""

    def total(column: Any, *where: Any) -> Any:
        return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()

    mine = (Invoice.customer_id == customer_id, Invoice.currency == currency)
    overdue = (
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.open_minor > 0, Invoice.due_date < overdue_before)
        .scalar_subquery()
    )
    open_all, open_others, reserved, overdue_count = session.exec(
        select(
            total(Invoice.open_minor, *mine),
            total(Invoice.open_minor, *mine, Invoice.order_id != order_id),
            total(
                Order.credit_reserved_minor,
                Order.customer_id == customer_id,
                Order.currency == currency,
                Order.id != order_id,
            ),
            overdue,
        )
    ).one()
    return Exposure(int(open_all), int(open_others), int(reserved), int(overdue_count))


def lock_customer(session: Session, engine: Engine, customer_id: str) -> Customer:
    """Serializes credit work per customer: a row lock on PostgreSQL; on SQLite the transaction's
    ``BEGIN IMMEDIATE`` already holds the database's write lock, and the row this transaction loaded
    already is current (no second query).

    PostgreSQL: ``FOR NO KEY UPDATE``, not ``FOR UPDATE``. record_order inserts the order first, and its
    foreign key takes a key-share lock on the customer's row, which ``FOR UPDATE`` waits for: two orders
    of one customer each held the key share the other's ``FOR UPDATE`` waited for (a deadlock)."""
    if not is_postgres(engine):
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NoResultFound(f"no customer {customer_id}")
        return customer
    return session.exec(select(Customer).where(Customer.id == customer_id).with_for_update(key_share=True)).one()


# ------------------------------------------------------------------------------------ the engine


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


def write_decision(
    session: Session,
    key: str,
    order: Order,
    record: CreditRecord,
    assessment: CreditAssessment | None = None,
) -> None:
    """Keeps one credit decision on record (a retry finds the key taken and writes nothing)."""
    figures = record.figures
    row = {
        "dedupe_key": key,
        "order_id": order.id,
        "customer_id": order.customer_id,
        "stage": record.stage,
        "decision": record.decision,
        "decided_by": record.by,
        "reason": record.reason[:2000],
        "currency": order.currency,
        "exposure_minor": figures.exposure_minor if figures else None,
        "limit_minor": record.limit_minor,
        "open_receivables_minor": figures.open_receivables_minor if figures else None,
        "approved_not_invoiced_minor": figures.approved_not_invoiced_minor if figures else None,
        "order_minor": figures.order_minor if figures else None,
        "overdue_invoices": figures.overdue_invoices if figures else None,
        "risk_class": figures.risk_class if figures else None,
        "risk_score": figures.risk.score if figures else None,
        "risk_source": figures.risk.source if figures else None,
        "assessment": assessment.model_dump_json() if assessment else None,
        "created_at": datetime.now(UTC),
    }
    if not insert_new(session, CreditDecision, [row], ["dedupe_key"]):
        return
    audit(
        session,
        f"credit:{key}",
        order.id,
        f"credit_{record.decision}",
        record.by,
        f"{record.stage}: {record.reason}",
    )


def invoiced_minor(session: Session, order_id: str) -> int:
    return int(
        session.exec(select(func.coalesce(func.sum(Invoice.total_minor), 0)).where(Invoice.order_id == order_id)).one()
    )


class CreditActivities:
    def __init__(self, engine: Engine, rules: CreditRules, scorer: RiskScorer | None = None) -> None:
        self._engine = engine
        self._credit = CreditEngine(rules, scorer or load_scorer(rules.risk_scorer))

    @activity.defn(name="check_credit")
    def check_credit(self, request: CreditCheck) -> CreditAssessment:
        with transaction(self._engine) as session:
            assessment = self.assess_order(session, request.order_id)
        self.log_assessment(request.order_id, assessment)
        return assessment

    @staticmethod
    def log_assessment(order_id: str, assessment: CreditAssessment) -> None:
        log(order_id).info(
            "credit assessed",
            decision=assessment.decision,
            reason=assessment.reason,
            exposure_minor=assessment.exposure_minor,
            limit_minor=assessment.limit_minor,
        )

    def assess_order(self, session: Session, order_id: str, new_order: Order | None = None) -> CreditAssessment:
        """The order's credit check, in the caller's transaction: the rules on today's figures, the
        reservation when approved, the decision on record. A retry answers what the first attempt decided
        and reserved. ``new_order``: the order's row, written by this very transaction (so no decision on
        it can exist yet)."""
        key = f"credit-check:{order_id}"
        earlier = None if new_order is not None else _recorded(session, key)
        if earlier is not None:
            return earlier
        order = new_order or load_order(session, order_id)
        customer = lock_customer(session, self._engine, order.customer_id)
        assessment = self._credit.assess(session, order, customer, order.total_minor)
        approved = assessment.decision == "approve"
        order.credit_reserved_minor = order.total_minor if approved else 0
        order.credit_basis = assessment.figures.basis if approved and assessment.figures else None
        session.add(order)
        write_decision(session, key, order, _as_record(assessment, "order"), assessment)
        return assessment

    @activity.defn(name="recheck_credit")
    def recheck_credit(self, request: CreditRecheck) -> CreditAssessment:
        """Before invoicing: unchanged when nothing the approval depended on has moved; otherwise the
        rules run again on today's figures, with what is left of this order as the order."""
        key = f"credit-recheck:{request.order_id}:{request.round}"
        with transaction(self._engine) as session:
            earlier = _recorded(session, key)
            if earlier is not None:
                return earlier
            order = load_order(session, request.order_id)
            customer = lock_customer(session, self._engine, order.customer_id)
            assessment = self._credit.assess(session, order, customer, order.credit_reserved_minor)
            assert assessment.figures is not None
            if assessment.figures.basis == order.credit_basis:
                return assessment.model_copy(update={"decision": "approve", "reason": "unchanged", "unchanged": True})
            if assessment.decision == "approve":
                order.credit_basis = assessment.figures.basis
                session.add(order)
            write_decision(session, key, order, _as_record(assessment, "before_invoicing"), assessment)
        log(request.order_id).info("credit re-checked", decision=assessment.decision, reason=assessment.reason)
        return assessment

    def record_finance_decision(self, session: Session, key: str, order: Order, record: CreditRecord) -> None:
        """Finance's answer to a hold. An approval reserves what is left to invoice and becomes the new
        basis for the re-check; a rejection or expiry is released by the status change that follows."""
        if record.decision == "approved":
            customer = lock_customer(session, self._engine, order.customer_id)
            order.credit_reserved_minor = max(0, order.total_minor - invoiced_minor(session, order.id))
            assessment = self._credit.assess(session, order, customer, order.credit_reserved_minor)
            order.credit_basis = assessment.figures.basis if assessment.figures else None
            session.add(order)
        write_decision(session, key, order, record)


def _as_record(assessment: CreditAssessment, stage: str) -> CreditRecord:
    return CreditRecord.model_validate(
        {
            "decision": assessment.decision,
            "by": "credit-engine",
            "reason": assessment.reason,
            "stage": stage,
            "limit_minor": assessment.limit_minor,
            "figures": assessment.figures,
        }
    )


def _recorded(session: Session, key: str) -> CreditAssessment | None:
    row = session.exec(select(CreditDecision).where(CreditDecision.dedupe_key == key)).first()
    if row is None or row.assessment is None:
        return None
    return CreditAssessment.model_validate_json(row.assessment)
