"""Activities: every call to the database, Stripe and SendGrid. ``build_activities`` wires real clients."""

from collections.abc import Callable
from typing import Any

import stripe
from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from temporalio.client import Client

from activities.aftersale import AfterSaleActivities
from activities.cash import CashActivities
from activities.credit import CreditActivities, RiskScorer
from activities.customers import CustomerActivities
from activities.email import EmailActivities
from activities.invoicing import InvoicingActivities
from activities.orders import OrderActivities
from activities.payments import PaymentActivities
from activities.receipts import ReceiptActivities
from models.policy import OrderPolicy
from o2c.platform.config import Settings
from o2c.platform.policies import load_credit_rules, load_policies


def stripe_client(settings: Settings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=0,  # our retries look the payment up first; Stripe's own would not
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def sendgrid_client(settings: Settings) -> SendGridAPIClient:
    client = SendGridAPIClient(api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_host)
    client.client.timeout = settings.sendgrid_timeout_seconds  # below the activity's 30 s
    return client


def build_activities(
    settings: Settings,
    engine: Engine,
    policy: OrderPolicy,
    sendgrid: SendGridAPIClient | None = None,
    stripe_api: stripe.StripeClient | None = None,
    scorer: RiskScorer | None = None,
    client: Client | None = None,
) -> list[Callable[..., Any]]:
    """Real clients from settings unless given (tests pass their own); ``client`` lets cash application
    tell the orders."""
    credit = CreditActivities(engine, load_credit_rules(settings), scorer)
    segments = load_policies(settings).segments
    customers = CustomerActivities(engine, settings, frozenset(segments))
    orders = OrderActivities(engine, settings, policy, credit, segments)
    invoicing = InvoicingActivities(engine, settings)
    cash = CashActivities(engine, settings)
    email = EmailActivities(engine, settings, sendgrid or sendgrid_client(settings))
    stripe_api = stripe_api or stripe_client(settings)
    payments = PaymentActivities(engine, stripe_api)
    aftersale = AfterSaleActivities(engine, settings, stripe_api)
    receipts = ReceiptActivities(engine, settings, client)
    return [
        orders.record_order,
        credit.check_credit,
        credit.recheck_credit,
        customers.change_customer,
        orders.record_order_event,
        orders.record_shipment,
        orders.record_delivery,
        orders.close_order,
        invoicing.issue_invoice,
        invoicing.issue_charge,
        invoicing.raise_late_fee,
        cash.apply_payment,
        cash.adjust_balance,
        cash.queue_payment,
        email.send_email,
        email.run_dunning_step,
        payments.charge_card,
        aftersale.credit_paid_invoice,
        aftersale.refund_card,
        aftersale.open_chargeback,
        aftersale.close_chargeback,
        aftersale.record_stripe_refund,
        receipts.match_receipts,
        receipts.deliver_applications,
    ]
