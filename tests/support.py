"""Shared test helpers: binaries, databases, fakes and sample orders."""

import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
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


class FakeStripe:
    """Stands in for ``stripe.StripeClient`` in workflow tests: each PaymentIntent takes the next scripted
    outcome ("succeeded", or a decline code, reported as Stripe does in ``last_payment_error``)."""

    class _Object(dict[str, Any]):
        def __getattr__(self, name: str) -> Any:
            return self[name]

        def to_dict(self) -> dict[str, Any]:
            return dict(self)

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = list(outcomes)
        self.intents: list[dict[str, Any]] = []
        self.v1 = self
        self.customers = self._Customers()
        self.payment_intents = self

    class _Customers:
        def create(self, params: dict[str, Any], options: dict[str, Any] | None = None) -> Any:
            return FakeStripe._Object(id=f"cus_{params['metadata']['o2c_customer_id']}")

        def list(self, params: dict[str, Any]) -> Any:
            return FakeStripe._Page([])

    def create(self, params: dict[str, Any], options: dict[str, Any] | None = None) -> Any:
        outcome = self.outcomes.pop(0) if self.outcomes else "succeeded"
        intent = self._Object(
            id=f"pi_{len(self.intents) + 1}",
            amount=params["amount"],
            customer=params["customer"],
            metadata=params["metadata"],
            status="succeeded" if outcome == "succeeded" else "requires_payment_method",
            last_payment_error=None if outcome == "succeeded" else {"code": "card_declined", "decline_code": outcome},
        )
        self.intents.append(intent)
        return intent

    class _Page:
        def __init__(self, items: list[Any]) -> None:
            self.items = items

        def auto_paging_iter(self) -> Any:
            return iter(self.items)

    def list(self, params: dict[str, Any]) -> Any:
        return self._Page(list(self.intents))
