"""Shared test helpers: binaries, databases, fakes and sample orders."""

import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import Engine, create_engine, text

from models.contract import Customer, OrderLine, PaymentTerms, PlaceOrder

BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("O2C_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def binary(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run scripts/test.sh, which installs the dev extra")
    return found


def postgres_available() -> str | None:
    """None when reachable, else why not."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(exc).__name__}); set O2C_TEST_POSTGRES_URL"
    return None


def fresh_postgres_schema() -> tuple[str, str]:
    """A new empty schema and a URL whose connections use it; the caller drops it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    return schema, f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def drop_postgres_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@dataclass
class Database:
    kind: str
    url: str
    engine: Engine


@dataclass
class FakeResponse:
    status_code: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class RecordingSendGrid:
    """Stands in for SendGridAPIClient in workflow tests: keeps every mail it is asked to send, and
    answers the Email Activity lookup (``client.messages.get``) from them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.client = self
        self.messages = self

    def get(self, query_params: dict[str, Any]) -> FakeResponse:
        import json
        import re

        name, value = re.fullmatch(r"unique_args\['(\w+)'\]=\"([^\"]*)\"", query_params["query"]).groups()  # type: ignore[union-attr]
        found = [
            {"msg_id": f"msg-{n}", "subject": m["subject"]}
            for n, m in enumerate(self.sent, start=1)
            if (m.get("custom_args") or {}).get(name) == value
        ]
        return FakeResponse(status_code=200, body=json.dumps({"messages": found}).encode())

    def send(self, mail: Any) -> FakeResponse:
        payload = mail.get()
        self.sent.append(payload)
        return FakeResponse(headers={"X-Message-Id": f"msg-{len(self.sent)}"})

    def subjects(self) -> list[str]:
        return [m["subject"] for m in self.sent]


def sample_order(
    order_id: str | None = None,
    currency: str = "USD",
    lines: list[tuple[str, int, str]] | None = None,
    **overrides: Any,
) -> PlaceOrder:
    lines = lines or [("WIDGET", 2, "19.99"), ("GADGET", 1, "5.00")]
    data: dict[str, Any] = {
        "order_id": order_id or f"T-{uuid.uuid4().hex[:10]}",
        "customer": Customer(id="CUST-1", name="Ada Lovelace", email="ada@example.com"),
        "currency": currency,
        "lines": [
            OrderLine(
                sku=sku,
                description=f"{sku} item",
                quantity=qty,
                unit_price=Decimal(price),
                tax_rate_percent=Decimal("10"),
            )
            for sku, qty, price in lines
        ],
        "payment_terms": PaymentTerms(net_days=30),
    }
    data.update(overrides)
    return PlaceOrder(**data)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """An ASGI app served by uvicorn on the test's own event loop, for the duration of a test."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    async def __aenter__(self) -> "BackgroundServer":
        import asyncio

        self.task = asyncio.create_task(self.server.serve())
        for _ in range(500):
            if self.server.started:
                return self
            await asyncio.sleep(0.01)
        raise RuntimeError(f"server on port {self.port} did not start")

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        await self.task


class FakeStripe(stripe.StripeClient):
    """Stripe for workflow tests: the real SDK, its HTTP client answering from memory as Stripe documents.

    Each confirmed PaymentIntent takes the next scripted outcome: "succeeded", or a decline. A decline is
    Stripe's 402 ``card_error`` (the SDK raises ``stripe.CardError``) whose ``payment_intent`` is the intent,
    left in ``requires_payment_method``; most declines are ``card_declined`` with the reason in
    ``decline_code``, a few are error codes of their own (``expired_card``…). A POST repeated with its
    Idempotency-Key and the same parameters gets the first answer again (a decline too) and creates
    nothing; with other parameters, or at another endpoint, a 400 ``idempotency_error``. Customers and
    intents are listed newest first (filters ``email``, ``customer``; pages by ``starting_after``)."""

    def __init__(self, outcomes: list[str]) -> None:
        self.backend = _InMemoryStripe(outcomes)
        super().__init__("sk_test_fake", http_client=self.backend, max_network_retries=0)

    @property
    def intents(self) -> list[dict[str, Any]]:
        """Every PaymentIntent created, oldest first."""
        return self.backend.created("payment_intent")

    @property
    def customers_created(self) -> list[dict[str, Any]]:
        return self.backend.created("customer")


class _InMemoryStripe(stripe.HTTPClient):
    name = "o2c-in-memory-stripe"
    # Stripe's test cards for these answer with the reason as the error's code and no decline code.
    ERROR_CODES = frozenset({"expired_card", "incorrect_cvc", "incorrect_number", "processing_error"})

    def __init__(self, outcomes: list[str]) -> None:
        super().__init__()
        self.outcomes = list(outcomes)
        self._objects: dict[str, list[dict[str, Any]]] = {"customer": [], "payment_intent": []}
        self._answered: dict[str, tuple[str, dict[str, Any], tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def created(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(o)) for o in self._objects[kind]]

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, dict[str, str]]:
        parts = urllib.parse.urlsplit(url)
        params = _form_decode(post_data or parts.query)
        endpoint = f"{method.upper()} {parts.path}"
        key = (headers or {}).get("Idempotency-Key")
        with self._lock:
            if method.lower() != "post" or key is None:
                body, status = self._answer(endpoint, params)
            elif key not in self._answered:
                body, status = self._answer(endpoint, params)
                self._answered[key] = (endpoint, params, (body, status))
            else:
                first_endpoint, first_params, (body, status) = self._answered[key]
                if (first_endpoint, first_params) != (endpoint, params):
                    body, status = _error(
                        400,
                        "idempotency_error",
                        f"Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                else:
                    return body, status, {"Request-Id": _new_id("req"), "Idempotent-Replayed": "true"}
        return body, status, {"Request-Id": _new_id("req")}

    def close(self) -> None:
        pass

    def _answer(self, endpoint: str, params: dict[str, Any]) -> tuple[str, int]:
        method, path = endpoint.split(" ", 1)
        kinds = {"/v1/customers": "customer", "/v1/payment_intents": "payment_intent"}
        collection, _, object_id = path.rpartition("/") if path.count("/") == 3 else (path, "", "")
        kind = kinds.get(collection)
        if kind is None or method not in ("GET", "POST") or (object_id and method != "GET"):
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
        if object_id:
            found = self._find(kind, object_id)
            if found is None:
                return _error(404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing")
            return json.dumps(found), 200
        if method == "GET":
            return self._list(kind, collection, params)
        return self._create_customer(params) if kind == "customer" else self._create_intent(params)

    def _find(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return next((o for o in self._objects[kind] if o["id"] == object_id), None)

    def _list(self, kind: str, url: str, params: dict[str, Any]) -> tuple[str, int]:
        filters = {name: params[name] for name in ("email", "customer") if name in params}
        newest_first = [o for o in reversed(self._objects[kind]) if all(o.get(k) == v for k, v in filters.items())]
        if "starting_after" in params:
            ids = [o["id"] for o in newest_first]
            newest_first = newest_first[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        page = {"object": "list", "data": newest_first[:limit], "has_more": len(newest_first) > limit, "url": url}
        return json.dumps(page), 200

    def _create_customer(self, params: dict[str, Any]) -> tuple[str, int]:
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
            "livemode": False,
        }
        self._objects["customer"].append(customer)
        return json.dumps(customer), 200

    def _create_intent(self, params: dict[str, Any]) -> tuple[str, int]:
        for required in ("amount", "currency"):
            if required not in params:
                return _error(400, "invalid_request_error", f"Missing required param: {required}.", "parameter_missing")
        customer = params.get("customer")
        if customer is not None and self._find("customer", customer) is None:
            return _error(400, "invalid_request_error", f"No such customer: '{customer}'", "resource_missing")
        confirm = params.get("confirm") == "true"
        if confirm and not params.get("payment_method"):
            return _error(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_intent_unexpected_state",
            )
        intent_id = _new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": params["currency"],
            "customer": customer,
            "payment_method": params.get("payment_method"),
            "metadata": params.get("metadata", {}),
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "latest_charge": None,
            "last_payment_error": None,
            "livemode": False,
            "payment_method_types": ["card"],
            "status": "requires_confirmation" if params.get("payment_method") else "requires_payment_method",
        }
        self._objects["payment_intent"].append(intent)
        if not confirm:
            return json.dumps(intent), 200
        outcome = self.outcomes.pop(0) if self.outcomes else "succeeded"
        if outcome == "succeeded":
            intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=_new_id("ch"))
            return json.dumps(intent), 200
        code, decline_code = (outcome, None) if outcome in self.ERROR_CODES else ("card_declined", outcome)
        error = {
            "type": "card_error",
            "code": code,
            "message": f"Your card was declined ({outcome}).",
            "payment_method": {"id": intent["payment_method"], "object": "payment_method", "type": "card"},
        }
        if decline_code:
            error["decline_code"] = decline_code
        intent.update(status="requires_payment_method", last_payment_error=error)
        return json.dumps({"error": error | {"payment_intent": intent}}), 402


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"


def _error(status: int, kind: str, message: str, code: str | None = None) -> tuple[str, int]:
    error = {"type": kind, "message": message} | ({"code": code} if code else {})
    return json.dumps({"error": error}), status


def _form_decode(encoded: str) -> dict[str, Any]:
    """Stripe's form encoding as the SDK writes it (``metadata[key]=value``), back into nested dicts."""
    params: dict[str, Any] = {}
    for name, value in urllib.parse.parse_qsl(encoded, keep_blank_values=True):
        *outer, last = re.findall(r"[^\[\]]+", name)
        target = params
        for part in outer:
            target = target.setdefault(part, {})
        target[last] = value
    return params
