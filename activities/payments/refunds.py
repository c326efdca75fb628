"""Refunds: a credit note on a paid invoice, its money planned back to the card payments that paid it
(the rest held as the customer's credit), and each card refund made at Stripe once.

A refund's key is written before Stripe is called; a retry looks the refund up at Stripe first, since
localstripe ignores idempotency keys. Journals are written once, by their name."""

from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.cash_application.queue import HeldCredit, hold_as_credit, release_credit
from activities.context import business_error, log
from activities.invoicing.credit_notes import issue_credit_note
from activities.records import audit
from models.activity_io import (
    AdjustBalance,
    AdjustmentKind,
    CreditPaidInvoice,
    ErrorType,
    PaidInvoiceCredited,
    PlannedRefund,
    RefundCard,
    RefundDone,
)
from models.contract import PaymentChannel
from models.money import MoneyError, format_money, to_minor
from models.tables import CreditNote, Invoice, Payment, PaymentApplication, Refund
from o2c.platform.config import Settings
from o2c.platform.db import transaction

REFUND_KEY = "o2c_refund_key"


class RefundActivities:
    def __init__(self, engine: Engine, settings: Settings, stripe_client: stripe.StripeClient) -> None:
        self._engine = engine
        self._settings = settings
        self._stripe = stripe_client.v1

    @activity.defn(name="credit_paid_invoice")
    def credit_paid_invoice(self, request: CreditPaidInvoice) -> PaidInvoiceCredited:
        """Issues the credit note and plans where the money goes: back to each card payment applied to the
        invoice (newest first), the rest held as the customer's credit."""
        with transaction(self._engine) as session:
            done = session.exec(
                select(CreditNote).where(
                    CreditNote.dedupe_key == request.dedupe_key, CreditNote.invoice_number == request.invoice_number
                )
            ).first()
            if done is not None:
                return self._planned(session, done)
            invoice = session.get(Invoice, request.invoice_number)
            if invoice is None or invoice.order_id != request.order_id:
                raise business_error(
                    ErrorType.INVALID_DECISION, f"order {request.order_id} has no invoice {request.invoice_number}"
                )
            try:
                amount = to_minor(request.amount, invoice.currency)
            except MoneyError as exc:
                raise business_error(ErrorType.INVALID_DECISION, str(exc)) from exc
            if invoice.open_minor > 0:
                raise business_error(
                    ErrorType.INVALID_DECISION,
                    f"invoice {invoice.number} still has {format_money(invoice.open_minor, invoice.currency)} "
                    "open: credit what is due through a dispute on the order (resolve_dispute credit_note)",
                )
            paid = _paid_by_payment(session, invoice.number)
            refundable = sum(paid.values()) - _credited_after_payment(session, invoice.number)
            if amount > refundable:
                raise business_error(
                    ErrorType.INVALID_DECISION,
                    f"{format_money(amount, invoice.currency)} is more than the "
                    f"{format_money(refundable, invoice.currency)} paid on {invoice.number} and not yet credited",
                )
            adjust = AdjustBalance(
                order_id=invoice.order_id,
                kind=AdjustmentKind.CREDIT_NOTE,
                amount_minor=amount,
                reason=request.reason,
                actor=request.actor,
                dedupe_key=request.dedupe_key,
                issued_on=request.issued_on,
            )
            number = issue_credit_note(
                session, self._settings, adjust, invoice, amount, request.issued_on, ledger.UNAPPLIED_CASH
            )
            now = datetime.now(UTC)
            left = amount
            payments = session.exec(select(Payment).where(col(Payment.id).in_(paid))).all()
            for payment in sorted(payments, key=lambda p: (p.received_at, p.id), reverse=True):
                refunded = _refunded(session, payment.id)
                share = min(left, paid[payment.id] - refunded) if payment.method == PaymentChannel.CARD.value else 0
                if share <= 0:
                    continue
                left -= share
                session.add(_refund_row(f"{number}:{payment.id}", invoice, number, payment.id, share, "pending", now))
            if left:
                session.add(_refund_row(f"{number}:credit", invoice, number, None, left, "held_as_credit", now))
                hold_as_credit(
                    session,
                    HeldCredit("credit", number, invoice.order_id, left, invoice.currency),
                    remittance=f"credit note {number} on paid invoice {invoice.number}",
                    reason=f"credit note {number}: paid other than by card, held as the customer's credit",
                )
            audit(
                session,
                f"credit_paid_invoice:{request.dedupe_key}",
                invoice.order_id,
                "credit_note",
                request.actor,
                f"{number} over {format_money(amount, invoice.currency)} on paid {invoice.number}: {request.reason}",
            )
            session.flush()
            planned = self._planned(session, session.get(CreditNote, number))
        log(request.order_id).info("paid invoice credited", credit_note=number, refunds=len(planned.card_refunds))
        return planned

    def _planned(self, session: Session, note: CreditNote | None) -> PaidInvoiceCredited:
        assert note is not None
        rows = session.exec(select(Refund).where(Refund.credit_note_number == note.number)).all()
        return PaidInvoiceCredited(
            credit_note_number=note.number,
            currency=note.currency,
            card_refunds=[
                PlannedRefund(key=r.key, payment_id=r.payment_id, amount_minor=r.amount_minor)
                for r in rows
                if r.payment_id is not None
            ],
            held_as_credit_minor=sum(r.amount_minor for r in rows if r.payment_id is None),
        )

    @activity.defn(name="refund_card")
    def refund_card(self, request: RefundCard) -> RefundDone:
        logger = log(request.order_id, refund=request.key)
        with transaction(self._engine) as session:
            row = _refund(session, request.key)
            if row.status in ("succeeded", "failed"):
                return _done(row)  # pending ones are looked up again: the webhook may not have come
            earlier_attempt = row.status == "sending"
            row.status = "sending"
            row.updated_at = datetime.now(UTC)
            session.add(row)
            payment_id, amount = row.payment_id or "", row.amount_minor
        found = self._find_refund(payment_id, request.key) if earlier_attempt else None
        message = ""
        if found is None:
            try:
                found = self._stripe.refunds.create(
                    params={"payment_intent": payment_id, "amount": amount, "metadata": {REFUND_KEY: request.key}},
                    options={"idempotency_key": f"o2c-refund-{request.key}"},
                ).to_dict()
            except stripe.InvalidRequestError as exc:
                # Stripe refuses for good (already refunded in full, a failed payment): the money stays
                # the customer's credit and accounts receivable is told.
                found, message = {"id": None, "status": "failed"}, exc.user_message or str(exc)
        with transaction(self._engine) as session:
            row = _refund(session, request.key)
            settle_refund(session, row, found.get("id"), str(found.get("status")))
            done = _done(row, message)
        logger.info("card refund", status=done.status, stripe_refund=done.stripe_refund_id)
        return done

    def _find_refund(self, payment_id: str, key: str) -> dict[str, Any] | None:
        """A refund an earlier attempt created but did not live to record."""
        listed = self._stripe.refunds.list(params={"payment_intent": payment_id, "limit": 100})
        for refund in listed.auto_paging_iter():
            data = refund.to_dict()
            if (data.get("metadata") or {}).get(REFUND_KEY) == key:
                return data
        return None


def settle_refund(session: Session, row: Refund, stripe_refund_id: str | None, stripe_status: str) -> None:
    """Moves a refund to Stripe's verdict and posts it: succeeded takes the money from the customer's
    credit out of cash; a refund that fails after succeeding puts it back. Journals are written once."""
    status = {"succeeded": "succeeded", "pending": "sending", "requires_action": "sending"}.get(stripe_status, "failed")
    if stripe_refund_id:
        row.stripe_refund_id = stripe_refund_id
    previous, row.status, row.updated_at = row.status, status, datetime.now(UTC)
    session.add(row)
    refs = {"order_id": row.order_id, "invoice_number": row.invoice_number}
    if status == "succeeded":
        ledger.transfer(
            session, f"refund:{row.key}", row.currency, row.amount_minor, ledger.UNAPPLIED_CASH, ledger.CASH, **refs
        )
        release_credit(session, "credit", row.key)
    elif status == "failed" and previous == "succeeded":
        ledger.transfer(
            session,
            f"refund:{row.key}:failed",
            row.currency,
            row.amount_minor,
            ledger.CASH,
            ledger.UNAPPLIED_CASH,
            **refs,
        )
    if status == "failed" and previous != "failed":
        # The money stays the customer's credit: in the exception queue for finance to pay out another way.
        hold_as_credit(
            session,
            HeldCredit("credit", row.key, row.order_id, row.amount_minor, row.currency),
            remittance=f"refund {row.key} to payment {row.payment_id} failed",
            reason=f"refund of credit note {row.credit_note_number} to the card failed: held as the customer's credit",
        )


def _paid_by_payment(session: Session, invoice_number: str) -> dict[str, int]:
    rows = session.exec(
        select(PaymentApplication.payment_id, func.sum(PaymentApplication.amount_minor))
        .where(PaymentApplication.invoice_number == invoice_number)
        .group_by(col(PaymentApplication.payment_id))
    ).all()
    return {payment_id: int(total) for payment_id, total in rows}


def _credited_after_payment(session: Session, invoice_number: str) -> int:
    total = session.exec(
        select(func.sum(Refund.amount_minor)).where(
            Refund.invoice_number == invoice_number, Refund.source == "o2c", col(Refund.credit_note_number).is_not(None)
        )
    ).one()
    return int(total or 0)


def _refunded(session: Session, payment_id: str) -> int:
    total = session.exec(
        select(func.sum(Refund.amount_minor)).where(Refund.payment_id == payment_id, Refund.status != "failed")
    ).one()
    return int(total or 0)


def _refund_row(
    key: str, invoice: Invoice, note: str, payment_id: str | None, amount: int, status: str, now: datetime
) -> Refund:
    return Refund(
        key=key,
        order_id=invoice.order_id,
        invoice_number=invoice.number,
        credit_note_number=note,
        payment_id=payment_id,
        amount_minor=amount,
        currency=invoice.currency,
        status=status,
        source="o2c",
        created_at=now,
    )


def _refund(session: Session, key: str) -> Refund:
    row = session.get(Refund, key)
    if row is None:
        raise business_error(ErrorType.INVALID_DECISION, f"no planned refund {key}")
    return row


def _done(row: Refund, message: str = "") -> RefundDone:
    return RefundDone(
        key=row.key,
        payment_id=row.payment_id or "",
        amount_minor=row.amount_minor,
        status={"succeeded": "succeeded", "sending": "pending"}.get(row.status, "failed"),
        stripe_refund_id=row.stripe_refund_id,
        message=message,
    )
