"""Dunning steps: each step on record once per invoice, its reminder and escalation emails sent once, an
open task for a person when it escalates, and a credit block when the policy says so."""

from datetime import UTC, datetime

from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities.email.facts import order_facts
from activities.email.outbox import Outbox
from activities.email.templates import render
from activities.records import audit, load_order
from models.activity_io import DunningStepRun
from models.money import format_money
from models.tables import CollectionTask, Customer, CustomerChange, DunningEvent, Order
from o2c.platform.config import Settings
from o2c.platform.db import transaction


class DunningActivities:
    def __init__(self, engine: Engine, settings: Settings, sendgrid: SendGridAPIClient) -> None:
        self._engine = engine
        self._settings = settings
        self._outbox = Outbox(engine, settings, sendgrid)

    @activity.defn(name="run_dunning_step")
    def run_dunning_step(self, step: DunningStepRun) -> None:
        """The workflow needs nothing back: what was sent is in the outbox, the step in ``dunning_events``."""
        with transaction(self._engine) as session:
            if (
                session.exec(
                    select(DunningEvent.id).where(
                        DunningEvent.invoice_number == step.invoice_number,
                        DunningEvent.step_name == step.step_name,
                    )
                ).first()
                is None
            ):
                session.add(
                    DunningEvent(
                        order_id=step.order_id,
                        invoice_number=step.invoice_number,
                        step_name=step.step_name,
                        level=step.level,
                        amount_due_minor=step.amount_due_minor,
                        escalated=step.escalate,
                        created_at=datetime.now(UTC),
                    )
                )
            facts = order_facts(session, self._settings, step.order_id, step.invoice_number, "")
            order = load_order(session, step.order_id)
            facts["amount"] = format_money(step.amount_due_minor, order.currency)
            if step.escalate:
                self._open_task(session, step, order)
            if step.block_credit:
                self._block(session, step, order)
        key = f"dunning:{step.invoice_number}:{step.step_name}"
        if step.remind:
            self._outbox.deliver(
                key, step.order_id, f"dunning_{step.template}", facts["customer_email"], render(step.template, facts)
            )
        if step.escalate:
            template = step.template if not step.remind else "escalation"
            escalation_key = key if not step.remind else f"{key}:escalation"
            self._outbox.deliver(
                escalation_key,
                step.order_id,
                f"dunning_{template}",
                self._settings.collections_email,
                render(template, facts),
            )

    def _open_task(self, session: Session, step: DunningStepRun, order: Order) -> None:
        """Escalation is work for a person: an open collection task, once per invoice and step."""
        exists = session.exec(
            select(CollectionTask.id).where(
                CollectionTask.invoice_number == step.invoice_number, CollectionTask.step_name == step.step_name
            )
        ).first()
        if exists is None:
            session.add(
                CollectionTask(
                    order_id=order.id,
                    customer_id=order.customer_id,
                    invoice_number=step.invoice_number,
                    step_name=step.step_name,
                    amount_due_minor=step.amount_due_minor,
                    created_at=datetime.now(UTC),
                )
            )

    def _block(self, session: Session, step: DunningStepRun, order: Order) -> None:
        """Blocks further credit: the customer's next orders are rejected until finance unblocks them."""
        change_id = f"dunning:{step.invoice_number}:{step.step_name}"
        if session.exec(select(CustomerChange.id).where(CustomerChange.change_id == change_id)).first() is not None:
            return
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        if customer.blocked:
            return
        customer.blocked = True
        customer.updated_at = datetime.now(UTC)
        session.add(customer)
        reason = f"dunning step {step.step_name} on invoice {step.invoice_number}"
        session.add(
            CustomerChange(
                change_id=change_id,
                customer_id=customer.id,
                field="blocked",
                old_value="false",
                new_value="true",
                actor="dunning",
                reason=reason,
                created_at=customer.updated_at,
            )
        )
        audit(session, f"customer-change:{change_id}", order.id, "customer_blocked", "dunning", reason)
