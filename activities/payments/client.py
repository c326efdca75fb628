"""The Stripe client, and what every Stripe activity asks of it."""

import stripe

from o2c.platform.config import Settings

STRIPE = "stripe"  # the actor of what Stripe did on its own: chargebacks, refunds made in its dashboard


def stripe_client(settings: Settings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=0,  # our retries look the payment up first; Stripe's own would not
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def intent_of_charge(client: stripe.StripeClient, charge_id: str) -> str | None:
    """The PaymentIntent of a charge (webhooks of older shapes name only the charge)."""
    if not charge_id:
        return None
    intent = client.v1.charges.retrieve(charge_id).to_dict().get("payment_intent")
    return intent if isinstance(intent, str) else None
