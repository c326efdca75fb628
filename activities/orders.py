"""Orders: the order's record, its customer and policy, the audited facts about it, and its close.

The credit check runs in ``record_order``'s own transaction (``activities.credit``); shipments are
``activities.fulfillment``'s."""

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities.context import business_error, log
from activities.credit import CreditActivities
from activities.records import audit, load_order
from models.activity_io import CloseOrder, DisputeRecord, ErrorType, OrderEvent, OrderRecorded, RecordOrder
from models.contract import OrderStatus, PaymentTerms, PlaceOrder
from models.invoicing import line_amounts
from models.money import to_minor
from models.policy import DunningPolicy, OrderPolicy
from models.tables import Customer, Dispute, Order, OrderLine
from o2c.platform.config import Settings
from o2c.platform.db import insert_rows, run_transaction, transaction

RELEASING_STATUSES = {OrderStatus.REJECTED, OrderStatus.CANCELLED}


def order_fingerprint(order: PlaceOrder) -> str:
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


def order_total_minor(order: PlaceOrder) -> int:
    total = 0
    for line in order.lines:
        amounts = line_amounts(
            line.quantity, line.unit_price, line.discount_percent, line.tax_rate_percent, order.currency
        )
        total += amounts.net_minor + amounts.tax_minor
    return total


class OrderActivities:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: OrderPolicy,
        credit: CreditActivities,
        segments: dict[str, DunningPolicy] | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._policy = policy
        self._credit = credit
        self._segments = segments or {}

    @activity.defn(name="record_order")
    def record_order(self, request: RecordOrder) -> OrderRecorded:
        order = request.order
        recorded, new = run_transaction(self._engine, partial(self._record, request=request))
        if new:
            log(order.order_id).info("order recorded", total_minor=recorded.order_total_minor, currency=order.currency)
            if recorded.assessment is not None:
                self._credit.log_assessment(order.order_id, recorded.assessment)
        return recorded

    def _record(self, session: Session, request: RecordOrder) -> tuple[OrderRecorded, bool]:
        """The order, its lines and its customer, once (a retry finds them: False), with its policy and,
        when asked, the credit check against what this transaction just wrote."""
        order = request.order
        fingerprint = order_fingerprint(order)
        total = order_total_minor(order)
        existing = session.get(Order, order.order_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise business_error(
                    ErrorType.ORDER_CONFLICT,
                    f"order {order.order_id} already exists with different contents; "
                    "use a new order id for a new order",
                )
            recorded = OrderRecorded(
                order_total_minor=total,
                policy=self._policy_for(session, order),
                assessment=self._credit.assess_order(session, order.order_id),
            )
            return recorded, False
        customer = self._upsert_customer(session, order)
        customer_terms = (
            PaymentTerms.model_validate_json(customer.payment_terms) if customer.payment_terms else PaymentTerms()
        )
        terms = order.payment_terms or customer_terms
        row = Order(
            id=order.order_id,
            customer_id=order.customer.id,
            currency=order.currency,
            total_minor=total,
            status=OrderStatus.PENDING.value,
            payment_method=order.payment_method.value,
            stripe_payment_method=order.stripe_payment_method,
            net_days=terms.net_days,
            end_of_month=terms.end_of_month,
            discount_percent=str(terms.discount_percent),
            discount_days=terms.discount_days,
            invoicing=order.invoicing.value,
            fingerprint=fingerprint,
            placed_at=request.placed_at,
        )
        session.add(row)
        insert_rows(
            session,
            OrderLine,
            [
                {
                    "order_id": order.order_id,
                    "line_no": line_no,
                    "sku": line.sku,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                    "tax_rate_percent": str(line.tax_rate_percent),
                    "discount_percent": str(line.discount_percent),
                }
                for line_no, line in enumerate(order.lines, start=1)
            ],
        )
        audit(session, f"placed:{order.order_id}", order.order_id, "order_placed", "storefront", "")
        policy = self._policy_for(session, order, customer)
        assessment = self._credit.assess_order(session, order.order_id, row)
        return OrderRecorded(order_total_minor=total, policy=policy, assessment=assessment), True

    def _policy_for(self, session: Session, order: PlaceOrder, customer: Customer | None = None) -> OrderPolicy:
        """The order's policy, with the dunning policy of its customer's segment."""
        customer = customer or session.get(Customer, order.customer.id)
        segment = customer.dunning_segment if customer else None
        if segment and segment in self._segments:
            return self._policy.model_copy(update={"dunning": self._segments[segment]})
        return self._policy

    def _upsert_customer(self, session: Session, order: PlaceOrder) -> Customer:
        """The customer master wins over what a storefront sends; an unknown customer is created with the
        default credit limit."""
        known = session.get(Customer, order.customer.id)
        if known is not None:
            return known
        limit = Decimal(self._settings.default_credit_limit).quantize(Decimal(1))
        customer = Customer(
            id=order.customer.id,
            name=order.customer.name,
            email=str(order.customer.email),
            currency=order.currency,
            credit_limit_minor=to_minor(limit, order.currency),
            created_at=datetime.now(UTC),
        )
        session.add(customer)
        session.flush()
        return customer

    @activity.defn(name="record_order_event")
    def record_order_event(self, event: OrderEvent) -> None:
        with transaction(self._engine) as session:
            order = load_order(session, event.order_id)
            if event.credit is not None:
                self._credit.record_finance_decision(session, event.dedupe_key, order, event.credit)
            if event.status is not None:
                order.status = event.status.value
                session.add(order)
            if event.release_credit or event.status in RELEASING_STATUSES:
                order.credit_reserved_minor = 0
                session.add(order)
            if event.dispute is not None:
                self._record_dispute(session, event.order_id, event.dispute)
            audit(session, event.dedupe_key, event.order_id, event.event, event.actor, event.detail)
        log(event.order_id).info("order event", kind=event.event, status=event.status)

    def _record_dispute(self, session: Session, order_id: str, record: DisputeRecord) -> None:
        now = datetime.now(UTC)
        dispute = session.exec(
            select(Dispute).where(Dispute.order_id == order_id, Dispute.dispute_id == record.dispute_id)
        ).first()
        if dispute is None:
            dispute = Dispute(
                order_id=order_id,
                dispute_id=record.dispute_id,
                amount_minor=record.amount_minor,
                reason=record.reason,
                status=record.status,
                opened_by=record.by,
                opened_at=now,
            )
        elif record.status != "open":
            dispute.status = record.status
            dispute.resolved_by = record.by
            dispute.resolved_at = now
        session.add(dispute)

    @activity.defn(name="close_order")
    def close_order(self, request: CloseOrder) -> None:
        run_transaction(self._engine, partial(self._close, request=request))
        log(request.order_id).info("order closed", status=request.status)

    def _close(self, session: Session, request: CloseOrder) -> None:
        order = load_order(session, request.order_id)
        order.status = request.status.value
        order.closed_at = request.closed_at
        order.credit_reserved_minor = 0
        session.add(order)
        audit(session, f"closed:{order.id}", order.id, "order_closed", "workflow", request.status.value)
