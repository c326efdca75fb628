"""Stripe webhook receiver (verified events become signals on ``order-{order_id}``) and the pay page.

Unsigned, forged or stale events get 400. A 2xx goes back only once Temporal accepted the signal, so
Stripe retries otherwise; a resent event is harmless because the workflow dedupes on the payment id.
"""

from datetime import UTC, datetime
from typing import Any

import stripe
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.service import RPCError

from models.contract import PaymentChannel, PaymentReceived
from models.money import from_minor
from models.naming import workflow_id
from o2c.paylink import PayPage

TOLERANCE_SECONDS = 300
log = structlog.get_logger("o2c.webhook")


def payment_from_intent(intent: dict[str, Any], created: int) -> PaymentReceived:
    currency = str(intent["currency"]).upper()
    minor = intent.get("amount_received") or intent["amount"]
    return PaymentReceived(
        payment_id=intent["id"],
        amount=from_minor(int(minor), currency),
        currency=currency,
        method=PaymentChannel.CARD,
        received_at=datetime.fromtimestamp(created, UTC),
        reference=(intent.get("metadata") or {}).get("invoice_number", ""),
    )


def create_app(client: Client, signing_secret: str, pay_page: PayPage | None = None) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("stripe-signature", ""), signing_secret, tolerance=TOLERANCE_SECONDS
            )
        except (ValueError, stripe.SignatureVerificationError) as exc:
            log.warning("webhook refused", reason=type(exc).__name__)
            return JSONResponse({"error": "signature verification failed"}, status_code=400)
        data = event.to_dict()
        if data["type"] != "payment_intent.succeeded":
            return JSONResponse({"ignored": data["type"]})
        intent = data["data"]["object"]
        order_id = (intent.get("metadata") or {}).get("order_id")
        if not order_id:
            return JSONResponse({"ignored": "no order_id in metadata"})
        payment = payment_from_intent(intent, int(data.get("created", 0)))
        try:
            await client.get_workflow_handle(workflow_id(order_id)).signal("payment_received", payment)
        except RPCError as exc:
            log.error("signal failed; Stripe will retry", order_id=order_id, event_id=data["id"], error=str(exc))
            return JSONResponse({"error": "not accepted yet"}, status_code=503)
        log.info("payment signalled", order_id=order_id, event_id=data["id"], payment_id=payment.payment_id)
        return JSONResponse({"signalled": workflow_id(order_id)})

    routes = [
        Route("/stripe/webhook", receive, methods=["POST"]),
        Route("/health", lambda _: JSONResponse({"ok": True}), methods=["GET"]),
    ]
    if pay_page is not None:
        routes.append(Route("/pay/{number}", pay_page.show, methods=["GET"]))
        routes.append(Route("/pay/{number}", pay_page.pay, methods=["POST"]))
    return Starlette(routes=routes)
