"""Chargebacks: the money out of cash while the dispute is open, back to cash when won, a loss when lost;
keyed by Stripe's dispute id."""

from datetime import UTC, datetime

import stripe
from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity

from activities import ledger
from activities.context import business_error, log
from activities.payments.client import STRIPE, intent_of_charge
from activities.records import audit
from models.activity_io import ChargebackRecorded, CloseChargeback, ErrorType
from models.contract import ChargebackOpened
from models.money import format_money
from models.tables import Chargeback, Dispute, Payment
from o2c.platform.db import transaction


class ChargebackActivities:
    def __init__(self, engine: Engine, stripe_client: stripe.StripeClient) -> None:
        self._engine = engine
        self._stripe = stripe_client

    @activity.defn(name="open_chargeback")
    def open_chargeback(self, request: ChargebackOpened) -> ChargebackRecorded:
        """Records the chargeback on the payment's order and takes the money out of cash into
        ``CHARGEBACKS`` (Stripe debits it when the dispute opens)."""
        with transaction(self._engine) as session:
            row = session.get(Chargeback, request.dispute_id)
            if row is not None:
                return _recorded(row)
        payment_id = request.payment_intent_id or intent_of_charge(self._stripe, request.charge_id or "")
        with transaction(self._engine) as session:
            payment = session.get(Payment, payment_id) if payment_id else None
            now = datetime.now(UTC)
            row = Chargeback(
                dispute_id=request.dispute_id,
                order_id=payment.order_id if payment else None,
                customer_id=payment.customer_id if payment else None,
                payment_id=payment_id,
                amount_minor=request.amount_minor,
                currency=request.currency,
                reason=request.reason[:200],
                status="open",
                evidence_due_by=request.evidence_due_by,
                opened_at=now,
            )
            session.add(row)
            if row.order_id is not None:
                session.add(
                    Dispute(
                        order_id=row.order_id,
                        dispute_id=request.dispute_id,
                        amount_minor=request.amount_minor,
                        reason=f"chargeback: {request.reason or 'no reason given'}",
                        status="open",
                        opened_by=STRIPE,
                        opened_at=now,
                    )
                )
            session.flush()
            ledger.post(
                session,
                f"chargeback:{request.dispute_id}",
                request.currency,
                [
                    ledger.Posting(ledger.CHARGEBACKS, debit_minor=request.amount_minor),
                    ledger.Posting(ledger.CASH, credit_minor=request.amount_minor),
                ],
                order_id=row.order_id,
            )
            audit(
                session,
                f"chargeback:{request.dispute_id}:open",
                row.order_id,
                "chargeback_opened",
                STRIPE,
                f"{request.dispute_id} over {format_money(request.amount_minor, request.currency)} on payment "
                f"{payment_id or 'unknown'}: {request.reason}",
            )
            recorded = _recorded(row)
        log(recorded.order_id).info("chargeback opened", dispute=request.dispute_id, known=bool(recorded.order_id))
        return recorded

    @activity.defn(name="close_chargeback")
    def close_chargeback(self, request: CloseChargeback) -> ChargebackRecorded:
        """Won: the money comes back to cash. Lost: it is a loss."""
        with transaction(self._engine) as session:
            row = session.get(Chargeback, request.dispute_id)
            if row is None:
                raise business_error(ErrorType.INVALID_DECISION, f"no chargeback {request.dispute_id}")
            if row.status == "open":
                row.status = request.status
                row.closed_at = request.closed_at
                session.add(row)
                account = ledger.CASH if request.status == "won" else ledger.CHARGEBACK_LOSSES
                ledger.post(
                    session,
                    f"chargeback:{row.dispute_id}:{request.status}",
                    row.currency,
                    [
                        ledger.Posting(account, debit_minor=row.amount_minor),
                        ledger.Posting(ledger.CHARGEBACKS, credit_minor=row.amount_minor),
                    ],
                    order_id=row.order_id,
                )
                if row.order_id is not None:
                    dispute = session.exec(
                        select(Dispute).where(Dispute.order_id == row.order_id, Dispute.dispute_id == row.dispute_id)
                    ).one()
                    dispute.status, dispute.resolved_by, dispute.resolved_at = request.status, STRIPE, request.closed_at
                    session.add(dispute)
                audit(
                    session,
                    f"chargeback:{row.dispute_id}:{request.status}",
                    row.order_id,
                    f"chargeback_{request.status}",
                    STRIPE,
                    f"{row.dispute_id}: {format_money(row.amount_minor, row.currency)}",
                )
            return _recorded(row)


def _recorded(row: Chargeback) -> ChargebackRecorded:
    return ChargebackRecorded(
        order_id=row.order_id, customer_id=row.customer_id, payment_id=row.payment_id, status=row.status
    )
