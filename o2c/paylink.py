"""Pay online: every bank-transfer invoice carries a link to a page where the customer pays it by card.

The link is ``{O2C_PUBLIC_URL}/pay/{invoice number}?t={token}``, the token an HMAC of the number under
``O2C_PAYMENT_LINK_SECRET``, so links cannot be guessed from invoice numbers. Opening it creates (or
reuses) one Stripe PaymentIntent for what is still open on the invoice. In the browser Stripe.js turns
the card into a PaymentMethod (card data never reaches us); the page posts its id back and the server
confirms the PaymentIntent with it. Stripe's ``payment_intent.succeeded`` webhook then brings the payment
to the order like any other card payment. Stripe's own Payment Links need Prices, which localstripe
lacks; this page works against both. Against localstripe (whose Stripe.js stand-in cannot create
PaymentMethods) the page offers Stripe's test card ``pm_card_visa`` instead.
"""

import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

import stripe
from sqlalchemy import Engine
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from models.money import format_money
from models.tables import Invoice, Order
from o2c.db import is_postgres, transaction

PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,100}")


def link_token(secret: str, number: str) -> str:
    return hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()[:32]


def payment_link(public_url: str, secret: str, number: str) -> str:
    return f"{public_url.rstrip('/')}/pay/{number}?t={link_token(secret, number)}"


def amount_due_now(invoice: Invoice, today: datetime) -> int:
    """What is open, less the early-payment discount while its window is open and nothing was paid yet."""
    within = invoice.discount_until is not None and today.date() <= invoice.discount_until
    if within and invoice.open_minor == invoice.total_minor:
        return invoice.open_minor - invoice.discount_minor
    return invoice.open_minor


@dataclass(frozen=True)
class Intent:
    number: str
    amount_minor: int
    currency: str
    client_secret: str


class PayPage:
    def __init__(self, engine: Engine, stripe_api: stripe.StripeClient, secret: str, publishable_key: str, js_url: str):
        self._engine = engine
        self._stripe = stripe_api
        self._secret = secret
        self._publishable_key = publishable_key
        self._js_url = js_url

    async def show(self, request: Request) -> HTMLResponse:
        number = request.path_params["number"]
        if not hmac.compare_digest(request.query_params.get("t", ""), link_token(self._secret, number)):
            return _page(
                "Link not valid",
                "<p>This payment link is not valid. Please use the link in your invoice email.</p>",
                404,
            )
        intent = await run_in_threadpool(self.intent_for, number)
        if intent is None:
            return _page("Nothing to pay", f"<p>Invoice {html.escape(number)} has nothing left to pay. Thank you.</p>")
        amount = html.escape(format_money(intent.amount_minor, intent.currency))
        test_card = (
            '<input type="hidden" name="test_payment_method" value="pm_card_visa">'
            if self._publishable_key.startswith("pk_test_")
            else ""
        )
        body = f"""
<p>Invoice <strong>{html.escape(number)}</strong>: <strong>{amount}</strong></p>
<form id="pay" method="post"><div id="card"></div>
<input type="hidden" name="payment_method" id="payment_method">{test_card}
<button type="submit">Pay {amount}</button></form>
<p id="result" role="status"></p>
<script src="{html.escape(self._js_url)}"></script>
<script>
const stripe = Stripe({json.dumps(self._publishable_key)});
const card = stripe.elements().create("card");
card.mount("#card");
const form = document.getElementById("pay");
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const made = (await stripe.createPaymentMethod({{type: "card", card}})) || {{}};
  if (made.error) {{ document.getElementById("result").textContent = made.error.message; return; }}
  const fallback = form.elements["test_payment_method"];
  form.elements["payment_method"].value = made.paymentMethod ? made.paymentMethod.id : (fallback ? fallback.value : "");
  form.submit();
}});
</script>"""
        return _page(f"Pay invoice {number}", body)

    async def pay(self, request: Request) -> HTMLResponse:
        number = request.path_params["number"]
        if not hmac.compare_digest(request.query_params.get("t", ""), link_token(self._secret, number)):
            return _page("Link not valid", "<p>This payment link is not valid.</p>", 404)
        fields = parse_qs((await request.body()).decode(errors="replace"))
        method = (fields.get("payment_method") or [""])[0]
        if not PAYMENT_METHOD.fullmatch(method):
            return _page("Payment not made", "<p>No card was given. Please go back and try again.</p>", 400)
        outcome = await run_in_threadpool(self.confirm, number, method)
        return _page("Payment" if outcome.startswith("Thank") else "Payment not made", f"<p>{html.escape(outcome)}</p>")

    def confirm(self, number: str, payment_method: str) -> str:
        """Confirms the invoice's PaymentIntent with the card the customer's browser turned into a
        PaymentMethod. The money reaches the order through Stripe's webhook, not through this answer."""
        intent = self.intent_for(number)
        if intent is None:
            return "Thank you: this invoice has nothing left to pay."
        intent_id = intent.client_secret.split("_secret_")[0]
        try:
            self._stripe.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
            confirmed = self._stripe.v1.payment_intents.confirm(intent_id)
        except stripe.CardError as exc:
            return f"Your card was declined: {exc.user_message or 'please try another card'}."
        if confirmed.status in ("succeeded", "processing"):
            return f"Thank you: your payment of {format_money(intent.amount_minor, intent.currency)} was received."
        return "Your bank asks you to confirm this payment; please try again and follow its steps."

    def intent_for(self, number: str) -> Intent | None:
        """One PaymentIntent per invoice and amount: reused while it can still be paid, replaced when the
        amount due changed (a partial payment or a credit note came in between)."""
        with transaction(self._engine) as session:
            statement = select(Invoice).where(Invoice.number == number)
            if is_postgres(self._engine):
                statement = statement.with_for_update()
            invoice = session.exec(statement).first()
            if invoice is None or invoice.open_minor <= 0:
                return None
            amount = amount_due_now(invoice, datetime.now(UTC))
            if invoice.stripe_payment_intent:
                existing = self._stripe.v1.payment_intents.retrieve(invoice.stripe_payment_intent)
                if existing.amount == amount and existing.status not in ("succeeded", "canceled"):
                    return Intent(number, amount, invoice.currency, existing.client_secret or "")
            order = session.get(Order, invoice.order_id)
            assert order is not None
            created = self._stripe.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": invoice.currency.lower(),
                    "metadata": {"order_id": order.id, "invoice_number": number, "source": "payment_link"},
                },
                options={"idempotency_key": f"paylink:{number}:{amount}"},
            )
            invoice.stripe_payment_intent = created.id
            session.add(invoice)
            return Intent(number, amount, invoice.currency, created.client_secret or "")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )
