"""Stripe webhook receiver (verified events become signals and workflows) and the pay page.

Unsigned, forged or stale events get 400, and so do signed ones in which a field the receiver reads is
missing or malformed (``o2c.web.stripe_shapes``; the answer names the field): those are neither acted on nor
recorded. Bodies over ``WEBHOOK_MAX_BODY`` (1 MiB) get 413 without being read whole. Each event id is acted
on once (``webhook_events``): the row is written only after Temporal accepted what the event asked for, and a
2xx goes back only then, so Stripe retries whatever did not get through. Two deliveries racing each other
are harmless too: the order dedupes payments on their id and the other workflows are keyed by Stripe's
object ids.

- ``payment_intent.succeeded``: signal ``payment_received`` on ``order-{metadata.order_id}``.
- ``payment_intent.payment_failed``: signal ``payment_failed`` on that order (its timeline).
- ``charge.dispute.created``, ``charge.dispute.funds_withdrawn``: workflow ``Chargeback``
  (``chargeback-{dispute id}``); ``charge.dispute.closed``: signal ``dispute_closed`` on it (started
  first if the opening was missed).
- ``refund.created``, ``refund.updated``, ``refund.failed``, ``charge.refund.updated``,
  ``charge.refunded``: workflow ``StripeRefund`` per refund and status.

A payment for an order whose workflow is closed (or unknown) is not lost: the event is kept with its
payload in ``webhook_events`` (outcome ``unapplied``) and becomes a receipt in cash application's exception
queue (``o2c cash unapplied``), booked to unapplied cash.
"""

import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import o2c.web.health as health
from activities.cash_application import record_unapplied_card_payment
from models.contract import ChargebackOpened, PaymentChannel
from models.money import from_minor
from models.naming import (
    CHARGEBACK_WORKFLOW,
    STRIPE_REFUND_WORKFLOW,
    TASK_QUEUE,
    chargeback_id,
    stripe_refund_id,
    workflow_id,
)
from models.tables import CardCharge, Payment, WebhookEvent
from o2c.platform.db import snapshot, transaction
from o2c.web.body_limit import BodyLimit, MiB
from o2c.web.paylink import PayPage
from o2c.web.stripe_shapes import Charge, Dispute, Event, PaymentIntent, Refund, StripeObject, reason

TOLERANCE_SECONDS = 300
# Stripe's events are a few KiB (its largest objects, a charge or an invoice with its lists, stay in the
# hundreds); nothing real comes near 1 MiB, and the body is held in memory to verify its signature.
WEBHOOK_MAX_BODY = MiB
REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
CHARGEBACK_EVENTS = {"charge.dispute.created", "charge.dispute.funds_withdrawn"}
# What the receiver acts on: a Stripe endpoint is registered for these alone (its "enabled_events"), so
# Stripe does not post, and we do not verify and drop, the half dozen other events of every charge.
HANDLED_EVENTS = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "charge.dispute.closed", "charge.refunded"}
    | CHARGEBACK_EVENTS
    | REFUND_EVENTS
)
log = structlog.get_logger("o2c.web.webhook")


class Outcome(BaseModel):
    text: str
    order_id: str | None = None
    keep_payload: bool = False


Handler = Callable[[Any, int], Awaitable[Outcome]]


class StripeEvents:
    def __init__(self, client: Client, signing_secret: str, engine: Engine, task_queue: str = TASK_QUEUE) -> None:
        self._client = client
        self._secret = signing_secret
        self._engine = engine
        self._task_queue = task_queue
        # Each handled type with the shape its data.object must have: checked before the handler acts.
        self._handlers: dict[str, tuple[type[StripeObject], Handler]] = {
            "payment_intent.succeeded": (PaymentIntent, self._payment_succeeded),
            "payment_intent.payment_failed": (PaymentIntent, self._payment_failed),
            "charge.dispute.closed": (Dispute, self._dispute_closed),
            "charge.refunded": (Charge, self._charge_refunded),
        }
        self._handlers |= {kind: (Dispute, self._chargeback) for kind in CHARGEBACK_EVENTS}
        self._handlers |= {kind: (Refund, self._refund) for kind in REFUND_EVENTS}

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            stripe.WebhookSignature.verify_header(
                body, request.headers.get("stripe-signature", ""), self._secret, TOLERANCE_SECONDS
            )
        except (ValueError, stripe.SignatureVerificationError) as exc:
            log.warning("webhook refused", reason=type(exc).__name__)
            return JSONResponse({"error": "signature verification failed"}, status_code=400)
        try:
            event = Event.model_validate_json(body)
        except ValidationError as exc:
            return _malformed(None, None, reason(exc))
        route = self._handlers.get(event.type)
        if route is None:
            return JSONResponse({"ignored": event.type})
        shape, handler = route
        try:
            obj = shape.model_validate(event.data.obj)
        except ValidationError as exc:
            return _malformed(event.id, event.type, reason(exc, within="data.object"))
        if await run_in_threadpool(self._seen, event.id):
            return JSONResponse({"duplicate": event.id})
        try:
            outcome = await handler(obj, event.created)
        except RPCError as exc:
            log.error("Temporal did not accept the event; Stripe will retry", event_id=event.id, error=str(exc))
            return JSONResponse({"error": "not accepted yet"}, status_code=503)
        await run_in_threadpool(self._record, event.id, event.type, event.data.obj, outcome)
        log.info("webhook event", event_id=event.id, type=event.type, outcome=outcome.text, order_id=outcome.order_id)
        return JSONResponse({"outcome": outcome.text})

    # ----------------------------------------------------------------------------------- handlers

    async def _payment_succeeded(self, intent: PaymentIntent, created: int) -> Outcome:
        order_id = intent.metadata.order_id
        if order_id is None:
            return Outcome(text="ignored: no order_id in metadata")
        payment = intent.payment(created)
        # A card-on-file charge: the order applied it from the charge's own answer (and has mostly closed
        # by now). Asked first, so the order is not woken to learn what it already knows.
        if await run_in_threadpool(self._applied, payment.payment_id):
            return Outcome(text="already applied", order_id=order_id)
        # Charged by the order's own charge_card, which reports the outcome to the order: a signal now
        # mostly lands while the order applies the payment and closes, and the server then refuses that
        # workflow task (its local activities run again). A closed order still takes the path below.
        if (
            payment.method is PaymentChannel.CARD
            and await run_in_threadpool(self._charged_by_its_order, intent)
            and await self._order_running(order_id)
        ):
            return Outcome(text="reported by the order's own charge", order_id=order_id)
        if await self._signal_order(order_id, "payment_received", payment):
            return Outcome(text="signalled payment_received", order_id=order_id)
        if await run_in_threadpool(self._applied, payment.payment_id):  # applied while we signalled
            return Outcome(text="already applied", order_id=order_id)
        # Into the cash-application exception queue, booked to unapplied cash, for finance to apply or refund.
        await run_in_threadpool(record_unapplied_card_payment, self._engine, payment, order_id)
        return Outcome(text=f"unapplied: order {order_id} is not open", order_id=order_id, keep_payload=True)

    async def _payment_failed(self, intent: PaymentIntent, _: int) -> Outcome:
        order_id = intent.metadata.order_id
        if order_id is None:
            return Outcome(text="ignored: no order_id in metadata")
        if await self._signal_order(order_id, "payment_failed", intent.failure()):
            return Outcome(text="signalled payment_failed", order_id=order_id)
        return Outcome(text=f"ignored: order {order_id} is not open", order_id=order_id)

    async def _chargeback(self, dispute: Dispute, _: int) -> Outcome:
        if dispute.status.startswith("warning_"):
            return Outcome(text="inquiry: no funds withdrawn, nothing booked", keep_payload=True)
        opened = dispute.opened()
        await self._start(CHARGEBACK_WORKFLOW, opened, chargeback_id(opened.dispute_id), _summary(opened))
        return Outcome(text=f"started {chargeback_id(opened.dispute_id)}")

    async def _dispute_closed(self, dispute: Dispute, created: int) -> Outcome:
        if dispute.status not in ("won", "lost"):
            return Outcome(text=f"ignored: dispute closed as {dispute.status}")
        opened = dispute.opened()
        await self._start(
            CHARGEBACK_WORKFLOW,
            opened,
            chargeback_id(opened.dispute_id),
            _summary(opened),
            signal=("dispute_closed", dispute.closed(created)),
        )
        return Outcome(text=f"signalled dispute_closed on {chargeback_id(opened.dispute_id)}")

    async def _refund(self, refund: Refund, _: int) -> Outcome:
        seen = refund.seen()
        started = stripe_refund_id(seen.refund_id, seen.status)
        summary = f"Stripe refund {seen.refund_id}: {from_minor(seen.amount_minor, seen.currency)} {seen.currency}"
        await self._start(STRIPE_REFUND_WORKFLOW, seen, started, summary)
        return Outcome(text=f"started {started}")

    async def _charge_refunded(self, charge: Charge, created: int) -> Outcome:
        """Older API versions report refunds only inside the charge; newer ones send ``refund.*`` too."""
        refunds = charge.all_refunds()
        for refund in refunds:
            await self._refund(refund, created)
        return Outcome(text=f"{len(refunds)} refund(s) taken from the charge")

    # ------------------------------------------------------------------------------------ plumbing

    async def _signal_order(self, order_id: str, signal: str, arg: BaseModel) -> bool:
        """Signals a running order; False when the order workflow is closed or unknown."""
        handle = self._client.get_workflow_handle(workflow_id(order_id))
        try:
            await handle.signal(signal, arg)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    async def _start(
        self, workflow: str, arg: BaseModel, id_: str, summary: str, signal: tuple[str, BaseModel] | None = None
    ) -> None:
        with contextlib.suppress(WorkflowAlreadyStartedError):  # it ran and closed: the event was acted on
            await self._client.start_workflow(
                workflow,
                arg,
                id=id_,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=summary,
                start_signal=signal[0] if signal else None,
                start_signal_args=[signal[1]] if signal else [],
            )

    async def _order_running(self, order_id: str) -> bool:
        try:
            description = await self._client.get_workflow_handle(workflow_id(order_id)).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return description.status == WorkflowExecutionStatus.RUNNING

    def _charged_by_its_order(self, intent: PaymentIntent) -> bool:
        """The intent is one the order's charge_card created (its key is on record for that order) and not
        a debit still settling, for which the order waits on this webhook."""
        key = intent.metadata.idempotency_key
        if not key:
            return False
        with snapshot(self._engine) as session:
            charge = session.get(CardCharge, key)
            return charge is not None and charge.order_id == intent.metadata.order_id and charge.status != "processing"

    def _applied(self, payment_id: str) -> bool:
        with snapshot(self._engine) as session:
            return session.get(Payment, payment_id) is not None

    def _seen(self, event_id: str) -> bool:
        with snapshot(self._engine) as session:
            return session.get(WebhookEvent, event_id) is not None

    def _record(self, event_id: str, kind: str, obj: dict[str, Any], outcome: Outcome) -> None:
        try:
            with transaction(self._engine) as session:
                session.add(
                    WebhookEvent(
                        event_id=event_id,
                        type=kind,
                        object_id=str(obj.get("id", ""))[:80],
                        order_id=outcome.order_id,
                        outcome=outcome.text[:200],
                        payload=json.dumps(obj, sort_keys=True) if outcome.keep_payload else None,
                        received_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # a concurrent delivery of the same event recorded it first


def _malformed(event_id: str | None, kind: str | None, why: str) -> JSONResponse:
    """Signed, so from Stripe or someone holding our secret, but not a shape we read: not acted on and not
    recorded, so Stripe's dashboard shows the failed delivery with this reason and its retries get it too."""
    log.warning("webhook event malformed", event_id=event_id, type=kind, reason=why)
    return JSONResponse({"error": f"malformed event: {why}"}, status_code=400)


def _summary(opened: ChargebackOpened) -> str:
    return f"Chargeback {opened.dispute_id}: {from_minor(opened.amount_minor, opened.currency)} {opened.currency}"


def create_app(
    client: Client, signing_secret: str, engine: Engine, pay_page: PayPage | None = None, task_queue: str = TASK_QUEUE
) -> Starlette:
    events = StripeEvents(client, signing_secret, engine, task_queue)
    routes = [
        Route("/stripe/webhook", events.receive, methods=["POST"]),
        Route("/health", health.live, methods=["GET"]),  # the dev stack's wait; /livez says the same
        *health.routes({"database": health.database(engine), "temporal": health.temporal(lambda: client)}),
    ]
    if pay_page is not None:
        routes.append(Route("/pay/{number}", pay_page.show, methods=["GET"]))
        routes.append(Route("/pay/{number}", pay_page.pay, methods=["POST"]))
    return Starlette(routes=routes, middleware=[Middleware(BodyLimit, max_bytes=WEBHOOK_MAX_BODY)])
