"""Every activity the worker registers, wired to real clients from settings unless a test gives its own.

Each is registered under the name ``workflows.calls`` calls it by (a test checks the two agree)."""

from collections.abc import Callable
from typing import Any

import stripe
from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from temporalio.client import Client

from activities.cash_application import (
    ApplicationDeliveryActivities,
    PaymentApplicationActivities,
    ReceiptMatchingActivities,
)
from activities.collections import AdjustmentActivities, DunningActivities, LateFeeActivities
from activities.credit import CreditActivities, RiskScorer
from activities.customers import CustomerActivities
from activities.email import EmailActivities, sendgrid_client
from activities.fulfillment import FulfillmentActivities
from activities.invoicing import InvoicingActivities
from activities.orders import OrderActivities
from activities.payments import (
    ChargebackActivities,
    PaymentActivities,
    RefundActivities,
    StripeRefundActivities,
    stripe_client,
)
from models.policy import OrderPolicy
from o2c.platform.config import Settings
from o2c.platform.policies import load_credit_rules, load_policies


def build_activities(
    settings: Settings,
    engine: Engine,
    policy: OrderPolicy,
    sendgrid: SendGridAPIClient | None = None,
    stripe_api: stripe.StripeClient | None = None,
    scorer: RiskScorer | None = None,
    client: Client | None = None,
) -> list[Callable[..., Any]]:
    """``client`` lets cash application tell the orders."""
    credit = CreditActivities(engine, load_credit_rules(settings), scorer)
    segments = load_policies(settings).segments
    customers = CustomerActivities(engine, settings, frozenset(segments))
    orders = OrderActivities(engine, settings, policy, credit, segments)
    fulfillment = FulfillmentActivities(engine)
    invoicing = InvoicingActivities(engine, settings)
    sendgrid = sendgrid or sendgrid_client(settings)
    email = EmailActivities(engine, settings, sendgrid)
    dunning = DunningActivities(engine, settings, sendgrid)
    late_fees = LateFeeActivities(engine, settings)
    adjustments = AdjustmentActivities(engine, settings)
    stripe_api = stripe_api or stripe_client(settings)
    payments = PaymentActivities(engine, stripe_api)
    refunds = RefundActivities(engine, settings, stripe_api)
    chargebacks = ChargebackActivities(engine, stripe_api)
    stripe_refunds = StripeRefundActivities(engine, stripe_api)
    applying = PaymentApplicationActivities(engine)
    matching = ReceiptMatchingActivities(engine, settings)
    delivery = ApplicationDeliveryActivities(engine, client)
    return [
        orders.record_order,
        orders.record_order_event,
        orders.close_order,
        credit.recheck_credit,
        customers.change_customer,
        fulfillment.record_shipment,
        fulfillment.record_delivery,
        invoicing.issue_invoice,
        invoicing.issue_charge,
        email.send_email,
        dunning.run_dunning_step,
        late_fees.raise_late_fee,
        adjustments.adjust_balance,
        payments.charge_card,
        refunds.credit_paid_invoice,
        refunds.refund_card,
        chargebacks.open_chargeback,
        chargebacks.close_chargeback,
        stripe_refunds.record_stripe_refund,
        applying.apply_payment,
        applying.queue_payment,
        matching.match_receipts,
        delivery.deliver_applications,
    ]
