"""Credit decisions: the check in ``record_order``'s transaction, the re-check before invoicing and
finance's answer to a hold, each kept on record once under its key."""

from datetime import UTC, datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio import activity

from activities.context import log
from activities.credit.engine import CreditEngine
from activities.credit.exposure import lock_customer
from activities.credit.risk import RiskScorer, load_scorer
from activities.records import audit, load_order
from models.activity_io import CreditAssessment, CreditRecheck, CreditRecord
from models.policy import CreditRules
from models.tables import CreditDecision, Invoice, Order
from o2c.platform.db import insert_new, transaction


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
