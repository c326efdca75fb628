"""Refunds Stripe reports: ours brought to Stripe's verdict, others (made in Stripe's dashboard) recorded
against the payment's order."""

from datetime import UTC, datetime

import stripe
from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity

from activities.payments.client import STRIPE, intent_of_charge
from activities.payments.refunds import settle_refund
from activities.records import audit
from models.activity_io import StripeRefundRecorded, StripeRefundSeen
from models.money import format_money
from models.tables import Payment, Refund
from o2c.platform.db import transaction


class StripeRefundActivities:
    def __init__(self, engine: Engine, stripe_client: stripe.StripeClient) -> None:
        self._engine = engine
        self._stripe = stripe_client

    @activity.defn(name="record_stripe_refund")
    def record_stripe_refund(self, seen: StripeRefundSeen) -> StripeRefundRecorded:
        """Ours: brings our row to what Stripe says (a refund can fail days later). Not ours (made in
        Stripe's dashboard): recorded against the payment's order and taken out of the customer's credit."""
        payment_id = seen.payment_intent_id or intent_of_charge(self._stripe, seen.charge_id or "")
        with transaction(self._engine) as session:
            row = session.exec(select(Refund).where(Refund.stripe_refund_id == seen.refund_id)).first()
            if row is None and seen.o2c_key:
                row = session.get(Refund, seen.o2c_key)
            if row is not None:
                before = row.status
                settle_refund(session, row, seen.refund_id, seen.status)
                return StripeRefundRecorded(
                    order_id=row.order_id, source=row.source, status=row.status, changed=row.status != before
                )
            payment = session.get(Payment, payment_id) if payment_id else None
            now = datetime.now(UTC)
            row = Refund(
                key=f"{STRIPE}:{seen.refund_id}",
                order_id=payment.order_id if payment else None,
                payment_id=payment_id,
                amount_minor=seen.amount_minor,
                currency=seen.currency,
                status="sending",
                source=STRIPE,
                created_at=now,
            )
            session.add(row)
            session.flush()
            settle_refund(session, row, seen.refund_id, seen.status)
            audit(
                session,
                f"refund:{row.key}",
                row.order_id,
                "refund_outside_o2c",
                STRIPE,
                f"{seen.refund_id} over {format_money(seen.amount_minor, seen.currency)} on payment "
                f"{payment_id or 'unknown'} ({seen.status}); no credit note was issued for it",
            )
            return StripeRefundRecorded(
                order_id=row.order_id, source=STRIPE if payment else "unknown", status=row.status, changed=True
            )
