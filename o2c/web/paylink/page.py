"""The pay page's HTTP handlers: the link's check, the card form and the answers, as HTML.

The HTML is built by hand with ``html.escape`` on every value that is not ours; a page that grows beyond
this one should move to a template engine with autoescaping (Jinja2).
"""

import html
import json
import re
import time
from urllib.parse import parse_qs

import stripe
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from o2c.platform.config import Settings
from o2c.platform.paylinks import genuine
from o2c.web.paylink.intents import Answer, Contended, InvoiceIntents

PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,100}")


class PayPage:
    def __init__(self, engine: Engine, stripe_api: stripe.StripeClient, settings: Settings):
        self._secret = settings.resolved_payment_link_secret()
        self._publishable_key = settings.stripe_publishable_key
        self._js_url = settings.resolved_stripe_js_url()
        self._contact = settings.accounts_receivable_email
        self._intents = InvoiceIntents(engine, stripe_api, self._contact)

    async def show(self, request: Request) -> HTMLResponse:
        number = request.path_params["number"]
        refused = self.refusal(number, request.query_params.get("e", ""), request.query_params.get("t", ""))
        if refused is not None:
            return _page(refused)
        try:
            intent = await run_in_threadpool(self._intents.intent_for, number)
        except (stripe.StripeError, Contended) as exc:
            return _page(self._intents.unavailable(number, exc))
        if intent is None:
            return _page(Answer("Nothing to pay", f"Invoice {number} has nothing left to pay. Thank you."))
        if intent.paid:
            return _page(self._intents.received(intent))
        amount = html.escape(intent.amount)
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
  form.querySelector("button").disabled = true;
  const made = (await stripe.createPaymentMethod({{type: "card", card}})) || {{}};
  if (made.error) {{
    document.getElementById("result").textContent = made.error.message;
    form.querySelector("button").disabled = false;
    return;
  }}
  const fallback = form.elements["test_payment_method"];
  form.elements["payment_method"].value = made.paymentMethod ? made.paymentMethod.id : (fallback ? fallback.value : "");
  form.submit();
}});
</script>"""
        return _html(f"Pay invoice {number}", body)

    async def pay(self, request: Request) -> HTMLResponse:
        number = request.path_params["number"]
        refused = self.refusal(number, request.query_params.get("e", ""), request.query_params.get("t", ""))
        if refused is not None:
            return _page(refused)
        fields = parse_qs((await request.body()).decode(errors="replace"))
        method = (fields.get("payment_method") or [""])[0]
        if not PAYMENT_METHOD.fullmatch(method):
            return _page(Answer("Payment not made", "No card was given. Please go back and try again.", 400))
        try:
            return _page(await run_in_threadpool(self._intents.confirm, number, method))
        except (stripe.StripeError, Contended) as exc:
            return _page(self._intents.unavailable(number, exc))

    def refusal(self, number: str, expires: str, token: str) -> Answer | None:
        """Why the link does not open the page, if it does not. The signature is checked before the expiry:
        a forged link learns nothing, not even that it would have expired."""
        genuine_link = genuine(self._secret, number, expires, token)
        if genuine_link is None:
            return Answer(
                "Link not valid",
                "This payment link is incomplete or damaged. Please open it again from your latest invoice "
                f"email or reminder, or contact us at {self._contact}.",
                400,
            )
        if not genuine_link:
            return Answer(
                "Link not valid",
                "This payment link is not valid. Please use the link in your latest invoice email or reminder.",
                404,
            )
        if int(expires) < time.time():
            return Answer(
                "Link expired",
                "This payment link has expired. Please use the link in your latest reminder, "
                f"or contact us at {self._contact}.",
                410,
            )
        return None


def _page(answer: Answer) -> HTMLResponse:
    return _html(answer.title, f"<p>{html.escape(answer.text)}</p>", answer.status)


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )
