"""Applications of a receipt to an order: numbered per receipt, delivered to the order as
``payment_received`` (the payment id is the order's dedupe key, so delivering twice is harmless), or
refused back onto the receipt."""

import asyncio
from datetime import UTC, datetime, time

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.records import audit
from models.activity_io import ApplicationsDelivered, DeliverApplications
from models.contract import PaymentChannel, PaymentReceived
from models.money import format_money, from_minor
from models.naming import workflow_id
from models.tables import (
    CashApplication,
    CashReceipt,
    CustomerBankAccount,
    Order,
)
from o2c.platform.db import transaction


def next_payment_id(session: Session, receipt_id: str) -> str:
    count = len(session.exec(select(CashApplication.id).where(CashApplication.receipt_id == receipt_id)).all())
    return f"{receipt_id}:{count + 1}"


def refuse_application(
    session: Session, application: CashApplication, receipt: CashReceipt, refusal: str, now: datetime
) -> None:
    """The application's money back on its receipt, for a person to look at."""
    application.status, application.refusal = "refused", refusal[:400]
    receipt.unapplied_minor += application.amount_minor
    receipt.status = "unapplied"
    receipt.reason = f"application to order {application.order_id} refused: {refusal}"[:2000]
    receipt.updated_at = now
    session.add(receipt)
    session.add(application)


def _pending(engine: Engine, ids: list[int] | None) -> list[tuple[CashApplication, CashReceipt]]:
    with transaction(engine) as session:
        query = select(CashApplication, CashReceipt).join(CashReceipt).where(CashApplication.status == "pending")
        if ids is not None:
            query = query.where(col(CashApplication.id).in_(ids))
        return [(a, r) for a, r in session.exec(query.order_by(col(CashApplication.id))).all()]


def _learn_account(session: Session, customer_id: str, receipt: CashReceipt, now: datetime) -> None:
    """The next payment from this account is the customer's (tier 3 of the matcher)."""
    known = session.exec(
        select(CustomerBankAccount.id).where(
            CustomerBankAccount.customer_id == customer_id, CustomerBankAccount.account == receipt.payer_account
        )
    ).first()
    if known is None:
        session.add(
            CustomerBankAccount(
                customer_id=customer_id, account=receipt.payer_account, learned_from=receipt.id, created_at=now
            )
        )


def _settle(engine: Engine, application_id: int, refusal: str | None) -> None:
    """The application delivered (and the payer's account learned for its customer), or refused and its
    money back on the receipt for a person to look at."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        application = session.get(CashApplication, application_id)
        if application is None or application.status != "pending":
            return
        receipt = session.get(CashReceipt, application.receipt_id)
        assert receipt is not None
        if refusal is None:
            application.status, application.delivered_at = "delivered", now
            order = session.get(Order, application.order_id)
            if receipt.payer_account and order is not None:
                _learn_account(session, order.customer_id, receipt, now)
            audit(
                session,
                f"cash-application:{application.payment_id}",
                application.order_id,
                "cash_applied",
                application.actor,
                f"{format_money(application.amount_minor, application.currency)} of receipt "
                f"{receipt.id} to {application.invoice_numbers or application.order_id} ({application.source})",
            )
        else:
            refuse_application(session, application, receipt, refusal, now)
        session.add(application)


async def deliver(
    engine: Engine, client: Client, ids: list[int] | None, heartbeat: object = None
) -> ApplicationsDelivered:
    """Signals ``payment_received`` for each pending application; an order that is not open refuses."""
    delivered = refused = 0
    for application, receipt in await asyncio.to_thread(_pending, engine, ids):
        payment = PaymentReceived(
            payment_id=application.payment_id,
            amount=from_minor(application.amount_minor, application.currency),
            currency=application.currency,
            method=PaymentChannel.CARD if receipt.source == "stripe" else PaymentChannel.BANK_TRANSFER,
            received_at=datetime.combine(receipt.booked_on, time(), UTC),
            reference=application.invoice_numbers,
        )
        refusal = None
        try:
            await client.get_workflow_handle(workflow_id(application.order_id)).signal("payment_received", payment)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            refusal = f"order {application.order_id} is not open"
        assert application.id is not None
        await asyncio.to_thread(_settle, engine, application.id, refusal)
        delivered += refusal is None
        refused += refusal is not None
        if callable(heartbeat):
            heartbeat(application.id)
    return ApplicationsDelivered(delivered=delivered, refused=refused)


class ApplicationDeliveryActivities:
    def __init__(self, engine: Engine, client: Client | None) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="deliver_applications")
    async def deliver_applications(self, request: DeliverApplications) -> ApplicationsDelivered:
        if self._client is None:
            raise RuntimeError("deliver_applications needs a Temporal client: build_activities(client=...)")
        return await deliver(self._engine, self._client, request.application_ids, activity.heartbeat)
