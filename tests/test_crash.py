"""Crash test: 200 orders on a real dev server with the real worker process, localstripe and the SendGrid
sink, while the worker is SIGKILLed at random moments and restarted, and the Temporal server itself is
restarted once on its SQLite file. Afterwards every order is PAID and the book of record shows one invoice
and one payment per order, one charge and one Stripe PaymentIntent per card invoice, one email per key and
one invoice email per invoice, the books' invariants (``tests/books.py``: one journal per money event and
no journal without one, a balanced ledger) and every amount paid (by the bank transfers the test sent and
the PaymentIntents Stripe holds) received and applied.

Half the orders pay by card on file (charged by the worker through localstripe), half by bank transfer
(paid by signal); a dunning policy whose two reminder steps are already due makes reminders race the
payments. Payloads are encrypted on the way (the codec is part of what must survive). The figures are
printed; ``O2C_CRASH_ORDERS`` and ``O2C_CRASH_SEED`` change the size and the kill schedule.
"""

import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities import ledger
from activities.payments import stripe_client
from models.contract import OrderOutcome, OrderStatus, PaymentMethod, StatusView
from models.money import to_minor
from models.search_attributes import CLI_TYPES
from models.tables import CardCharge, EmailOutbox, Invoice, LedgerEntry, Order, Payment
from o2c.client import O2CClient
from o2c.devtools.sendgrid_sink import create_app as sink_app
from o2c.platform.codec import new_key_spec
from o2c.platform.config import Settings
from o2c.platform.temporal import connect
from tests.books import check_books
from tests.support import BackgroundServer, Database, binary, free_port, sample_order

ORDERS = int(os.environ.get("O2C_CRASH_ORDERS", "200"))
SEED = int(os.environ.get("O2C_CRASH_SEED", "20261123"))
KILLS = int(os.environ.get("O2C_CRASH_KILLS", "10"))
T = TypeVar("T")

pytestmark = pytest.mark.timeout(900)


@dataclass
class Chaos:
    """The processes under test and what was done to them."""

    tmp: Path
    env: dict[str, str]
    temporal_port: int
    worker: subprocess.Popen[bytes] | None = None
    temporal: subprocess.Popen[bytes] | None = None
    kills: int = 0
    server_restarts: int = 0
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.started.append(process)
        return process

    def start_temporal(self) -> None:
        self.temporal = self._spawn(
            "temporal",
            [
                binary("temporal"), "server", "start-dev", "--headless",
                "--ip", "127.0.0.1", "--port", str(self.temporal_port),
                "--db-filename", str(self.tmp / "temporal.db"),
                "--log-level", "error",
                "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
                *[a for name, kind in CLI_TYPES.items() for a in ("--search-attribute", f"{name}={kind}")],
            ],
        )  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", [binary("o2c"), "worker"])

    def kill_worker(self) -> None:
        assert self.worker is not None
        if self.worker.poll() is not None:
            raise AssertionError(f"the worker exited by itself ({self.worker.returncode}): see {self.tmp}/worker.log")
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.kills += 1

    def restart_temporal(self) -> None:
        assert self.temporal is not None
        self.temporal.send_signal(signal.SIGTERM)
        self.temporal.wait(timeout=30)
        self.start_temporal()
        self.server_restarts += 1

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


async def patiently(what: str, call: Callable[[], Awaitable[T]], seconds: float = 120) -> T:
    """Calls through a server restart: Temporal refusing or unreachable means try again shortly."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except (RPCError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {seconds:.0f} s: {exc}") from exc
            await asyncio.sleep(0.5)


async def until(o2c: O2CClient, order_id: str, check: Callable[[StatusView], bool]) -> StatusView:
    for _ in range(2400):
        try:
            view = await asyncio.wait_for(o2c.status(order_id), timeout=5)
            if check(view):
                return view
        except (RPCError, RuntimeError, TimeoutError):
            pass  # no worker to answer the query right now, or no server
        await asyncio.sleep(0.25)
    raise AssertionError(f"order {order_id} never reached the state")


async def run_order(o2c: O2CClient, index: int, prefix: str, paid: dict[str, Decimal]) -> OrderOutcome:
    card = index % 2 == 0
    order = sample_order(
        order_id=f"{prefix}{index:04d}",
        customer={
            "id": f"CC-{index % 17}",
            "name": f"Crash Customer {index % 17}",
            "email": f"c{index % 17}@crash.example",
        },
        payment_method=PaymentMethod.CARD_ON_FILE if card else PaymentMethod.BANK_TRANSFER,
        stripe_payment_method="pm_card_visa" if card else None,
    )
    handle: WorkflowHandle[Any, Any] = await patiently("start", lambda: o2c.start_order(order))
    shipment = {
        "shipment_id": "S1",
        "lines": [{"sku": "WIDGET", "quantity": 2}, {"sku": "GADGET", "quantity": 1}],
        "carrier": "UPS",
        "tracking_number": f"1Z{index:06d}",
    }
    await patiently("ship", lambda: o2c.ship(order.order_id, shipment))
    if not card:
        # Every other bank-transfer order pays only after both reminders went out.
        reminded = index % 4 == 1
        view = await until(o2c, order.order_id, lambda s: bool(s.invoices) and (s.dunning_level == 2 or not reminded))
        payment = {
            "payment_id": f"BANK-{order.order_id}",
            "amount": str(view.totals.due),
            "currency": "USD",
            "method": "bank_transfer",
            "received_at": datetime.now(UTC).isoformat(),
            "reference": view.invoices[0].number,
        }
        await patiently("pay", lambda: o2c.payment_received(order.order_id, payment))
        paid[payment["payment_id"]] = view.totals.due
    outcome: OrderOutcome = await patiently("result", lambda: handle.result(), seconds=600)
    return outcome


async def chaos_loop(chaos: Chaos, done: asyncio.Event, rng: random.Random) -> None:
    """Kills the worker KILLS times, 2 to 6 s apart (restarting it within a second); at the fourth kill,
    restarts Temporal too. Then the worker is left to finish (in-flight activities of a killed worker come
    back after their 30 s timeout)."""
    while not done.is_set() and chaos.kills < KILLS:
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        if done.is_set():
            break
        chaos.kill_worker()
        if chaos.kills == 4:
            await asyncio.to_thread(chaos.restart_temporal)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        chaos.start_worker()


async def test_orders_survive_killed_workers_and_a_restarted_server(
    database: Database, localstripe: str, tmp_path: Path
) -> None:
    temporal_port, sink_port = free_port(), free_port()
    prefix = f"CRASH-{uuid.uuid4().hex[:6]}-"  # localstripe is shared by the whole session
    policy = tmp_path / "dunning.json"
    policy.write_text(
        json.dumps(
            {
                "steps": [  # both already due when the invoice is issued: reminders race the payment
                    {"name": "first", "offset_days": -32, "level": 1, "template": "pre_due", "actions": ["remind"]},
                    {"name": "second", "offset_days": -31, "level": 2, "template": "pre_due", "actions": ["remind"]},
                ]
            }
        )
    )
    settings = Settings(payload_keys=new_key_spec("crash"))
    env = os.environ | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "O2C_DATABASE_URL": database.url,
        "O2C_STATE_DIR": str(tmp_path),
        "O2C_STRIPE_API_BASE": localstripe,
        "O2C_SENDGRID_HOST": f"http://127.0.0.1:{sink_port}",
        "O2C_PAYLOAD_KEYS": settings.payload_keys.get_secret_value(),
        "O2C_PAYMENT_LINK_SECRET": secrets.token_urlsafe(),
        "O2C_DUNNING_POLICY_FILE": str(policy),
        "O2C_LOG_FORMAT": "json",
    }
    chaos = Chaos(tmp_path, env, temporal_port)
    rng = random.Random(SEED)
    started = time.monotonic()
    try:
        # The sink binds first: the dev server takes further ports of its own next to its frontend.
        async with BackgroundServer(sink_app(tmp_path / "mail"), sink_port), httpx.AsyncClient() as http:
            chaos.start_temporal()
            client: Client = await patiently("connect", lambda: connect(f"127.0.0.1:{temporal_port}", settings), 60)
            await patiently("server ready", client.count_workflows, 60)
            chaos.start_worker()
            o2c = O2CClient(client)
            done = asyncio.Event()
            chaos_task = asyncio.create_task(chaos_loop(chaos, done, rng))
            gate = asyncio.Semaphore(40)
            paid_by_bank: dict[str, Decimal] = {}

            async def one(index: int) -> OrderOutcome:
                async with gate:
                    return await run_order(o2c, index, prefix, paid_by_bank)

            orders = asyncio.ensure_future(asyncio.gather(*(one(i) for i in range(ORDERS))))
            try:
                await asyncio.wait([orders, chaos_task], return_when=asyncio.FIRST_COMPLETED)
                if chaos_task.done():
                    chaos_task.result()  # the chaos itself failed (a worker that cannot start): say why
                outcomes = await orders
            finally:
                done.set()
                orders.cancel()
                await asyncio.gather(chaos_task, return_exceptions=True)
            elapsed = time.monotonic() - started
            mails = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
    finally:
        chaos.stop()

    figures = check_book(database, localstripe, mails, prefix, paid_by_bank)
    print(
        f"\ncrash test ({database.kind}): {ORDERS} orders in {elapsed:.0f} s, {chaos.kills} worker kills, "
        f"{chaos.server_restarts} server restart; {figures['charges']} card charges, {figures['emails']} emails "
        f"({figures['reminders']} reminders), {figures['journals']} journals; duplicates found: "
        f"{figures['duplicates']}"
    )
    assert Counter(o.status for o in outcomes) == {OrderStatus.PAID: ORDERS}
    assert chaos.kills == KILLS and chaos.server_restarts == 1
    # Orders that waited for both reminders got them; the others may have raced one out before their payment.
    assert figures["reminders"] >= 2 * len(range(1, ORDERS, 4))
    assert figures["duplicates"] == 0


def check_book(
    database: Database, localstripe: str, mails: list[dict[str, Any]], prefix: str, paid_by_bank: dict[str, Decimal]
) -> dict[str, int]:
    duplicates = 0
    with Session(database.engine) as session:
        orders = session.exec(select(Order).where(col(Order.id).startswith(prefix))).all()
        assert len(orders) == ORDERS and {o.status for o in orders} == {"PAID"}
        invoices = session.exec(select(Invoice).where(col(Invoice.order_id).startswith(prefix))).all()
        duplicates += _more_than_once(Counter(i.order_id for i in invoices), "invoices of one order")
        assert len(invoices) == ORDERS and all(i.open_minor == 0 for i in invoices)
        charges = session.exec(select(CardCharge).where(col(CardCharge.order_id).startswith(prefix))).all()
        duplicates += _more_than_once(Counter(c.invoice_number for c in charges), "card charges of one invoice")
        assert len({c.invoice_number for c in charges}) == ORDERS // 2 + ORDERS % 2
        assert {c.status for c in charges} == {"succeeded"}
        payments = session.exec(select(Payment).where(col(Payment.order_id).startswith(prefix))).all()
        duplicates += _more_than_once(Counter(p.order_id for p in payments), "payments of one order")
        assert len(payments) == ORDERS, "one payment per order, card or bank"
        outbox = session.exec(select(EmailOutbox).where(col(EmailOutbox.order_id).startswith(prefix))).all()
        journals = session.exec(
            select(LedgerEntry.journal).where(col(LedgerEntry.order_id).startswith(prefix)).distinct()
        ).all()
    # Stripe: one PaymentIntent per charge key and per card invoice (a retry under a new key would make two).
    listed = stripe_client(Settings(stripe_api_base=localstripe)).v1.payment_intents.list(params={"limit": 100})
    intents = [i.to_dict() for i in listed.auto_paging_iter()]
    ours = [i for i in intents if str((i.get("metadata") or {}).get("order_id", "")).startswith(prefix)]
    keys = Counter(i["metadata"].get("o2c_idempotency_key") for i in ours)
    duplicates += _more_than_once(keys, "PaymentIntents of one charge key")
    per_invoice = Counter(i["metadata"].get("invoice_number") for i in ours)
    duplicates += _more_than_once(per_invoice, "PaymentIntents of one invoice")
    assert set(keys) == {c.idempotency_key for c in charges}
    # Email: each key once at the sink, every outbox row sent, one invoice email per invoice.
    args = [m["payload"].get("custom_args") or {} for m in mails]
    sent = Counter(a["o2c_email_key"] for a in args if str(a.get("o2c_order_id", "")).startswith(prefix))
    duplicates += _more_than_once(sent, "emails of one key")
    assert set(sent) == {r.key for r in outbox} and {r.status for r in outbox} == {"sent"}
    assert {k for k in sent if ":invoice:" in k} == {f"{i.order_id}:invoice:{i.number}" for i in invoices}
    # The books: one journal per money event and none without one, and all money paid in received and applied.
    card_minor = sum(i["amount"] for i in ours if i.get("status") == "succeeded")
    bank_minor = sum(to_minor(amount, "USD") for amount in paid_by_bank.values())
    balances = check_books(database.engine, {"USD": card_minor + bank_minor})
    assert balances["USD"].get(ledger.RECEIVABLES, 0) == 0
    return {
        "charges": len(charges),
        "emails": sum(sent.values()),
        "reminders": sum(n for k, n in sent.items() if k.startswith("dunning:")),
        "journals": len(journals),
        "duplicates": duplicates,
    }


def _more_than_once(counts: Counter[Any], what: str) -> int:
    """How many too many, printed so that the failure says which."""
    extra = {key: n for key, n in counts.items() if n > 1}
    if extra:
        print(f"{what}: {extra}")
    return sum(n - 1 for n in extra.values())
