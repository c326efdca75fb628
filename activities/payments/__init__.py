"""Payments at Stripe: cards and direct debits charged on file, refunds, chargebacks, and refunds made in
Stripe's dashboard.

Modules: ``client`` (the Stripe client), ``cards``, ``refunds``, ``chargebacks``, ``stripe_refunds``."""

from activities.payments.cards import CHANNEL_KEY, METADATA_KEY, PaymentActivities, decline_kind
from activities.payments.chargebacks import ChargebackActivities
from activities.payments.client import stripe_client
from activities.payments.refunds import RefundActivities
from activities.payments.stripe_refunds import StripeRefundActivities

__all__ = [
    "CHANNEL_KEY",
    "METADATA_KEY",
    "ChargebackActivities",
    "PaymentActivities",
    "RefundActivities",
    "StripeRefundActivities",
    "decline_kind",
    "stripe_client",
]
