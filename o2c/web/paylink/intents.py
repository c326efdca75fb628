"""One PaymentIntent per invoice and amount, whatever the clicks.

The invoice row keeps the PaymentIntent, and a submit claims it there (a compare-and-set on that row) before
confirming, so a second submit meanwhile confirms nothing; an intent that was paid but is not on the books yet
is never followed by another. Stripe is called outside any transaction: the row is read from a snapshot and
written in short transactions that check nobody changed it in between.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
import structlog
from sqlalchemy import Engine, update
from sqlmodel import col

from models.money import format_money
from models.tables import Invoice, Payment
from o2c.platform.db import run_transaction, snapshot

# A submit's claim on the invoice's PaymentIntent is written as "{intent id}@{unix seconds}". One older
# than any Stripe call can take (its timeout, with the SDK's retries) was left by a process that died
# between claiming and releasing, and may be taken over.
CLAIMED_AT = "@"
CLAIM_STALE_AFTER = timedelta(minutes=5)
PAID = frozenset({"succeeded", "processing", "requires_capture"})
PAYABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})

log = structlog.get_logger("o2c.web.paylink")


def amount_due_now(invoice: Invoice, today: datetime) -> int:
    """What is open, less the early-payment discount while its window is open and nothing was paid yet."""
    within = invoice.discount_until is not None and today.date() <= invoice.discount_until
    if within and invoice.open_minor == invoice.total_minor:
        return invoice.open_minor - invoice.discount_minor
    return invoice.open_minor


@dataclass(frozen=True)
class Answer:
    title: str
    text: str
    status: int = 200


@dataclass(frozen=True)
class Due:
    """An open invoice as one snapshot saw it, with what its row keeps of the page's PaymentIntent."""

    number: str
    order_id: str
    currency: str
    open_minor: int
    amount_minor: int
    stored: str | None  # the column as read: an intent id, or a claim on it
    booked: bool  # the stored intent's payment is on the books

    @property
    def intent_id(self) -> str | None:
        return _intent_of(self.stored)


@dataclass(frozen=True)
class Intent:
    due: Due
    stored: str  # the column as it is now: this intent's id, or a claim on it
    intent_id: str
    amount_minor: int
    client_secret: str
    paid: bool  # paid (or processing) and not on the books yet: nothing more is to be taken

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.due.currency)

    def claimed_by_another(self, now: float) -> bool:
        claimed_at = self.stored.partition(CLAIMED_AT)[2]
        return bool(claimed_at) and now - int(claimed_at) < CLAIM_STALE_AFTER.total_seconds()


class Contended(Exception):
    """The invoice's PaymentIntent kept changing under this request."""


class InvoiceIntents:
    """The invoice's PaymentIntent at Stripe and its claim on the invoice's row; each answer is what the
    customer is told."""

    def __init__(self, engine: Engine, stripe_api: stripe.StripeClient, contact: str):
        self._engine = engine
        self._stripe = stripe_api
        self._contact = contact

    def confirm(self, number: str, payment_method: str) -> Answer:
        """Confirms the invoice's PaymentIntent with the card the customer's browser turned into a
        PaymentMethod, under a claim on the invoice's row: of two submits at once, one confirms and the other
        is told a payment is under way. The money reaches the order through Stripe's webhook."""
        intent = self.intent_for(number)
        if intent is None:
            return Answer("Payment", "Thank you: this invoice has nothing left to pay.")
        if intent.paid:
            return self.received(intent)
        now = time.time()
        if intent.claimed_by_another(now):
            return self._under_way(number)
        claim = f"{intent.intent_id}{CLAIMED_AT}{int(now)}"
        if not self._swap(number, intent.stored, claim):
            return self._under_way(number)
        try:
            return self._confirm_claimed(intent, payment_method)
        finally:
            self._swap(number, claim, intent.intent_id)

    def _confirm_claimed(self, intent: Intent, payment_method: str) -> Answer:
        # Asked again under the claim: a submit that held it before this one may have paid the intent.
        current = self._stripe.v1.payment_intents.retrieve(intent.intent_id)
        if current.status in PAID:
            return self.received(intent)
        if current.status not in PAYABLE or current.amount != intent.amount_minor:
            return Answer("Payment not made", "This page is out of date. Please reload it and try again.", 409)
        try:
            self._stripe.v1.payment_intents.update(intent.intent_id, params={"payment_method": payment_method})
            confirmed = self._stripe.v1.payment_intents.confirm(intent.intent_id)
        except stripe.CardError as exc:
            self._abandon(intent)
            reason = exc.user_message or "please try another card"
            return Answer("Payment not made", f"Your card was declined: {reason}.", 402)
        except stripe.InvalidRequestError as exc:
            log.warning("pay page: Stripe refused the confirmation", invoice=intent.due.number, code=exc.code)
            reason = exc.user_message or "please reload the page and try again"
            return Answer("Payment not made", f"The payment could not be made: {reason}.", 400)
        if confirmed.status in PAID:
            return self.received(intent)
        return Answer("Payment not made", "Your bank asks you to confirm this payment; please try again.", 402)

    def _abandon(self, intent: Intent) -> None:
        """After a decline the next card gets an intent of its own: localstripe cannot confirm an intent again
        once its charge failed (Stripe can), and a canceled intent is plainly one nobody will pay."""
        try:
            self._stripe.v1.payment_intents.cancel(intent.intent_id)
        except stripe.StripeError as exc:  # the next attempt then tries this intent again
            log.warning("pay page: declined intent not canceled", invoice=intent.due.number, error=type(exc).__name__)

    def intent_for(self, number: str) -> Intent | None:
        """One PaymentIntent per invoice and amount: reused while it can still be paid, replaced when the
        amount due changed (a partial payment or a credit note came in between), or when Stripe no longer
        has it (localstripe forgets everything when the dev stack restarts)."""
        for _ in range(3):
            due = self._due(number)
            if due is None:
                return None
            stored = self._stored_intent(due)
            if stored is not None:
                return stored
            created = self._stripe.v1.payment_intents.create(
                params={
                    "amount": due.amount_minor,
                    "currency": due.currency.lower(),
                    "metadata": {"order_id": due.order_id, "invoice_number": number, "source": "payment_link"},
                },
                # Requests replacing the same intent for the same amount get one intent back from Stripe.
                options={"idempotency_key": f"paylink:{number}:{due.open_minor}:{due.amount_minor}:{due.intent_id}"},
            )
            if self._swap(number, due.stored, created.id):
                return Intent(due, created.id, created.id, due.amount_minor, created.client_secret or "", paid=False)
            # Another request stored an intent meanwhile: the next round reads and reuses it.
        raise Contended(f"invoice {number}: its PaymentIntent changed three times while this request ran")

    def _due(self, number: str) -> Due | None:
        with snapshot(self._engine) as session:
            invoice = session.get(Invoice, number)
            if invoice is None or invoice.open_minor <= 0:
                return None
            stored = invoice.stripe_payment_intent
            intent_id = _intent_of(stored)
            return Due(
                number=number,
                order_id=invoice.order_id,
                currency=invoice.currency,
                open_minor=invoice.open_minor,
                amount_minor=amount_due_now(invoice, datetime.now(UTC)),
                stored=stored,
                booked=intent_id is not None and session.get(Payment, intent_id) is not None,
            )

    def _stored_intent(self, due: Due) -> Intent | None:
        if due.stored is None or due.intent_id is None:
            return None
        try:
            existing = self._stripe.v1.payment_intents.retrieve(due.intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing" and exc.http_status != 404:  # localstripe sends no code
                raise
            log.warning("pay page: Stripe has no such PaymentIntent; making a new one", invoice=due.number)
            return None
        # Paid but not on the books yet: the webhook is on its way, and another intent would charge twice.
        paid = existing.status in PAID and not due.booked
        if paid or (existing.status in PAYABLE and existing.amount == due.amount_minor):
            return Intent(due, due.stored, existing.id, existing.amount, existing.client_secret or "", paid=paid)
        return None

    def _swap(self, number: str, expected: str | None, new: str) -> bool:
        """Writes ``new`` into the invoice's PaymentIntent column if it still holds ``expected``."""
        column = col(Invoice.stripe_payment_intent)
        unchanged = column.is_(None) if expected is None else column == expected
        statement = update(Invoice).where(col(Invoice.number) == number, unchanged).values(stripe_payment_intent=new)
        return run_transaction(self._engine, lambda session: session.connection().execute(statement).rowcount == 1)

    def received(self, intent: Intent) -> Answer:
        return Answer("Payment", f"Thank you: your payment of {intent.amount} was received.")

    def _under_way(self, number: str) -> Answer:
        return Answer(
            "Payment in progress",
            f"A payment for invoice {number} is being made right now. Please wait a moment and reload this page.",
            409,
        )

    def unavailable(self, number: str, exc: Exception) -> Answer:
        log.warning("pay page: payment service unavailable", invoice=number, error=type(exc).__name__)
        return Answer(
            "Payment not made",
            "Card payments cannot be reached right now. Please try again in a few minutes: a payment that was "
            f"already taken is never taken twice. Questions: contact us at {self._contact}.",
            503,
        )


def _intent_of(stored: str | None) -> str | None:
    return stored.partition(CLAIMED_AT)[0] if stored else None
