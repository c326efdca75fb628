"""Card-on-file charges through Stripe, at most once per idempotency key.

The key is minted once by the workflow. Stripe dedupes on it; localstripe does not, so our own
``card_charges`` row (primary key = the idempotency key) is written before the call, and a retry that
finds it looks the PaymentIntent up at Stripe instead of creating another.
"""

from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

import stripe
from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio import activity

from activities.context import log
from activities.orders import load_order
from models.activity_io import ChargeCard, ChargeOutcome
from models.contract import PaymentChannel
from models.tables import CardCharge, Customer
from o2c.platform.db import run_transaction

METADATA_KEY = "o2c_idempotency_key"
CHANNEL_KEY = "o2c_channel"  # card or direct_debit: how the webhook reports the payment to the order

# Stripe's decline codes that no retry will fix: the card or the account behind it is gone, wrong or
# blocked. Every other decline (insufficient funds, issuer unavailable, generic declines…) is soft.
HARD_DECLINES = frozenset(
    {
        "account_closed",
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_cvc",
        "incorrect_number",
        "invalid_account",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)


def decline_kind(code: str | None) -> str:
    return "hard" if (code or "") in HARD_DECLINES else "soft"


class _Charging(NamedTuple):
    """What calling Stripe for a charge needs, read in the charge's first transaction."""

    earlier_attempt: bool
    known_customer: str | None
    customer_id: str
    customer_email: str
    customer_name: str
    payment_method: str | None
    channel: PaymentChannel


class PaymentActivities:
    def __init__(self, engine: Engine, stripe_client: stripe.StripeClient) -> None:
        self._engine = engine
        self._stripe = stripe_client.v1

    @activity.defn(name="charge_card")
    def charge_card(self, request: ChargeCard) -> ChargeOutcome:
        logger = log(request.order_id, invoice=request.invoice_number)
        row, charging = run_transaction(self._engine, partial(self._claim, request=request))
        if charging is None:
            return _outcome(row)
        # Stripe is called outside any transaction: no row stays locked while the network is slow.
        stripe_customer = charging.known_customer or self._link_customer(
            charging.customer_id, charging.customer_email, charging.customer_name
        )
        if charging.known_customer is None:
            linked = update(Customer).where(col(Customer.id) == charging.customer_id)
            linked = linked.values(stripe_customer_id=stripe_customer)
            run_transaction(self._engine, lambda session: session.execute(linked))
        intent = self._find_intent(stripe_customer, request.idempotency_key) if charging.earlier_attempt else None
        if intent is None:
            intent = self._create_intent(request, stripe_customer, charging.payment_method or "", charging.channel)
        # The row as written above (kept, not re-read), now with Stripe's answer: one UPDATE.
        row.stripe_payment_intent = intent.get("id")
        row.status = {"succeeded": "succeeded", "processing": "processing"}.get(str(intent.get("status")), "declined")
        row.decline_code = intent.get("decline_code")
        answered = (
            update(CardCharge)
            .where(col(CardCharge.idempotency_key) == request.idempotency_key)
            .values(stripe_payment_intent=row.stripe_payment_intent, status=row.status, decline_code=row.decline_code)
        )
        run_transaction(self._engine, lambda session: session.execute(answered))
        logger.info("card charged", status=row.status, payment_intent=row.stripe_payment_intent)
        return _outcome(row)

    def _claim(self, session: Session, request: ChargeCard) -> tuple[CardCharge, _Charging | None]:
        """The charge's row under its key (written as pending the first time) and what calling Stripe
        needs; None for that when an earlier attempt already has Stripe's answer."""
        row = session.get(CardCharge, request.idempotency_key)
        if row is not None and row.status in ("succeeded", "declined", "processing"):
            return row, None
        earlier_attempt = row is not None
        order = load_order(session, request.order_id)
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        if row is None:
            row = CardCharge(
                idempotency_key=request.idempotency_key,
                order_id=request.order_id,
                invoice_number=request.invoice_number,
                amount_minor=request.amount_minor,
                currency=request.currency,
                status="pending",
                created_at=datetime.now(UTC),
            )
            session.add(row)
        channel = PaymentChannel.DIRECT_DEBIT if order.payment_method == "debit_on_file" else PaymentChannel.CARD
        return row, _Charging(
            earlier_attempt=earlier_attempt,
            known_customer=customer.stripe_customer_id,
            customer_id=customer.id,
            customer_email=customer.email,
            customer_name=customer.name,
            payment_method=order.stripe_payment_method,
            channel=channel,
        )

    def _link_customer(self, customer_id: str, email: str, name: str) -> str:
        """Our customer's Stripe customer: found by its metadata if an earlier attempt created it (Stripe
        dedupes the create on its key; localstripe does not), else created."""
        for found in self._stripe.customers.list(params={"email": email, "limit": 100}).auto_paging_iter():
            if (found.to_dict().get("metadata") or {}).get("o2c_customer_id") == customer_id:
                return str(found.id)
        created = self._stripe.customers.create(
            params={"email": email, "name": name, "metadata": {"o2c_customer_id": customer_id}},
            options={"idempotency_key": f"o2c-customer-{customer_id}"},
        )
        return str(created.id)

    def _find_intent(self, stripe_customer: str, key: str) -> dict[str, Any] | None:
        """An intent an earlier attempt created but did not live to record."""
        for intent in self._stripe.payment_intents.list(params={"limit": 100}).auto_paging_iter():
            data = intent.to_dict()
            if data.get("customer") == stripe_customer and (data.get("metadata") or {}).get(METADATA_KEY) == key:
                return _summary(data)
        return None

    def _create_intent(
        self, request: ChargeCard, stripe_customer: str, payment_method: str, channel: PaymentChannel
    ) -> dict[str, Any]:
        try:
            intent = self._stripe.payment_intents.create(
                params={
                    "amount": request.amount_minor,
                    "currency": request.currency.lower(),
                    "customer": stripe_customer,
                    "payment_method": payment_method,
                    "confirm": True,
                    "off_session": True,
                    "metadata": {
                        METADATA_KEY: request.idempotency_key,
                        "order_id": request.order_id,
                        "invoice_number": request.invoice_number,
                        CHANNEL_KEY: channel.value,
                    },
                },
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as exc:
            error = exc.error
            intent_id = error.payment_intent.id if error and error.payment_intent else None
            code = (error.decline_code if error else None) or exc.code or "card_declined"
            return {"id": intent_id, "status": "declined", "decline_code": code}
        return _summary(intent.to_dict())


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("last_payment_error") or {}
    return {
        "id": data.get("id"),
        "status": data.get("status"),
        "decline_code": error.get("decline_code") or error.get("code"),
    }


def _outcome(row: CardCharge) -> ChargeOutcome:
    declined = row.status not in ("succeeded", "processing")
    return ChargeOutcome(
        status="declined" if declined else row.status,
        payment_id=row.stripe_payment_intent or f"declined-{row.idempotency_key}",
        received_at=row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC),
        decline_code=row.decline_code or "",
        decline_kind="hard" if declined and decline_kind(row.decline_code) == "hard" else "soft" if declined else "",
    )
