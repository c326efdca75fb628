"""``o2c finance customer show``: a customer's master data, exposure, risk and recent history, from the database."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities.cash_application import open_receipts
from activities.credit import customer_exposure, load_scorer, payment_history
from activities.customers import current_values
from models.money import format_money
from models.policy import CreditRules
from models.tables import CollectionTask, CreditDecision, Customer, CustomerChange


def customer_report(engine: Engine, customer_id: str, rules: CreditRules) -> dict[str, Any] | None:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        today = datetime.now(UTC).date()
        exposure = customer_exposure(
            session, customer.id, customer.currency, "", today - timedelta(days=rules.overdue_hold_days)
        )
        risk = load_scorer(rules.risk_scorer).score(
            customer.id, payment_history(session, customer.id, today, rules.risk_lookback_days)
        )
        total = exposure.open_receivables_minor + exposure.reserved_elsewhere_minor
        changes = session.exec(
            select(CustomerChange)
            .where(CustomerChange.customer_id == customer_id)
            .order_by(col(CustomerChange.id).desc())
            .limit(20)
        ).all()
        decisions = session.exec(
            select(CreditDecision)
            .where(CreditDecision.customer_id == customer_id)
            .order_by(col(CreditDecision.id).desc())
            .limit(20)
        ).all()
        tasks = session.exec(
            select(CollectionTask)
            .where(CollectionTask.customer_id == customer_id, CollectionTask.status == "open")
            .order_by(col(CollectionTask.id))
        ).all()
        unapplied = open_receipts(session, customer_id)
        return {
            "customer": current_values(customer) | {"id": customer.id},
            "unapplied_cash": [
                {
                    "receipt": r.id,
                    "booked_on": r.booked_on.isoformat(),
                    "unapplied": format_money(r.unapplied_minor, r.currency),
                    "reason": r.reason,
                }
                for r in unapplied
            ],
            "open_collection_tasks": [
                {
                    "opened": t.created_at.isoformat(),
                    "order_id": t.order_id,
                    "invoice": t.invoice_number,
                    "step": t.step_name,
                    "amount_due": format_money(t.amount_due_minor, customer.currency),
                }
                for t in tasks
            ],
            "exposure": {
                "currency": customer.currency,
                "open_receivables": format_money(exposure.open_receivables_minor, customer.currency),
                "approved_not_invoiced": format_money(exposure.reserved_elsewhere_minor, customer.currency),
                "total": format_money(total, customer.currency),
                "limit": None
                if customer.credit_limit_minor is None
                else format_money(customer.credit_limit_minor, customer.currency),
                "overdue_invoices": exposure.overdue_invoices,
            },
            "risk": risk.model_dump(),
            "recent_changes": [
                {
                    "at": c.created_at.isoformat(),
                    "field": c.field,
                    "old": c.old_value,
                    "new": c.new_value,
                    "by": c.actor,
                    "reason": c.reason,
                }
                for c in changes
            ],
            "recent_credit_decisions": [
                {
                    "at": d.created_at.isoformat(),
                    "order_id": d.order_id,
                    "stage": d.stage,
                    "decision": d.decision,
                    "by": d.decided_by,
                    "reason": d.reason,
                }
                for d in decisions
            ],
        }
