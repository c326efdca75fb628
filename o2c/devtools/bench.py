"""``o2c bench``: figures, not tests. Each run brings up its own dev stack (Temporal dev server on a SQLite
file, localstripe, the SendGrid sink, the webhook receiver, the codec server and the worker, payloads
encrypted) in a temporary folder on free ports, measures, prints, and takes it all down again.

- ``orders``: N orders through the whole happy path (card on file: approved, shipped at once, invoiced,
  emailed, charged, closed) and, on the same worker in the same run, N bare workflows of eight no-op
  activities: throughput of both and their ratio, start-to-closed latency, history events and estimated
  billable actions per workflow, CPU of server, worker and the rest, worker memory.
- ``idle``: N bank-transfer orders invoiced and left waiting on their reminder timers: worker memory
  (bounded by the workflow cache) and how quickly the server still answers.
"""

import asyncio
import shutil
import signal
import socket
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from models.naming import TASK_QUEUE, workflow_id
from o2c.client import O2CClient
from o2c.devtools.bench_worker import BARE_WORKFLOW, COMMAND
from o2c.devtools.devstack import DevStack, StackError
from o2c.platform.config import Settings
from o2c.platform.temporal import connect

BARE_ACTIVITIES = 8
SAMPLE = 20  # histories read per kind for the event counts
# What Temporal Cloud bills, estimated from history events (README: Performance).
BILLED = {
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_EXECUTION_SIGNALED",
    "ACTIVITY_TASK_SCHEDULED",
    "TIMER_STARTED",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Phase:
    label: str
    count: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    worker_cpu: float
    rest_cpu: float
    worker_rss_mb: float
    events: float
    actions: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @staticmethod
    def combine(rounds: list["Phase"]) -> "Phase":
        """Rounds of one kind as one phase: counts and time added, CPU weighted by time."""
        seconds = sum(r.seconds for r in rounds)

        def weighted(value: Callable[[Phase], float]) -> float:
            return sum(value(r) * r.seconds for r in rounds) / seconds

        return Phase(
            rounds[0].label,
            sum(r.count for r in rounds),
            seconds,
            [latency for r in rounds for latency in r.latencies],
            weighted(lambda r: r.server_cpu),
            weighted(lambda r: r.worker_cpu),
            weighted(lambda r: r.rest_cpu),
            max(r.worker_rss_mb for r in rounds),
            statistics.mean(r.events for r in rounds),
            statistics.mean(r.actions for r in rounds),
        )

    def row(self) -> str:
        p50 = statistics.median(self.latencies)
        p99 = sorted(self.latencies)[max(0, round(len(self.latencies) * 0.99) - 1)]
        return (
            f"{self.label:<16}{self.count:>6}{self.rate:>9.1f}/s{p50:>9.2f} s{p99:>9.2f} s{self.events:>8.1f}"
            f"{self.actions:>9.1f}{self.server_cpu:>9.0%}{self.worker_cpu:>9.0%}{self.rest_cpu:>9.0%}"
            f"{self.worker_rss_mb:>9.0f} MB"
        )


HEADER = (
    f"{'':<16}{'count':>6}{'throughput':>11}{'p50':>11}{'p99':>11}{'events':>8}{'actions':>9}"
    f"{'server':>9}{'worker':>9}{'rest':>9}{'worker RSS':>12}"
)


class Meter:
    """CPU (cores used over the phase) of the Temporal server, of every worker process and of the rest (the
    stand-ins for Stripe and SendGrid, the webhook receiver, the codec server and this client), and the
    workers' RSS."""

    def __init__(self, stack: DevStack) -> None:
        by_name = {child.name: psutil.Process(child.process.pid) for child in stack.children}
        self.server = by_name.pop("temporal")
        self.worker = by_name.pop("worker")
        self.rest = [*by_name.values(), psutil.Process()]

    def workers(self) -> list[psutil.Process]:
        return [self.worker, *self.worker.children(recursive=True)]

    def cpu(self) -> tuple[float, float, float]:
        def total(process: psutil.Process) -> float:
            times = process.cpu_times()
            return float(times.user + times.system)

        return total(self.server), sum(total(p) for p in self.workers()), sum(total(p) for p in self.rest)

    def rss_mb(self) -> float:
        return sum(p.memory_info().rss for p in self.workers()) / 2**20


async def _events(client: Client, ids: list[str]) -> tuple[float, float]:
    events, actions = [], []
    for id_ in ids[:SAMPLE]:
        history = await client.get_workflow_handle(id_).fetch_history()
        kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)
        local = sum(
            1 for e in history.events if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        )
        events.append(sum(kinds.values()))
        actions.append(sum(n for kind, n in kinds.items() if kind in BILLED) + local)
    return statistics.mean(events), statistics.mean(actions)


async def _phase(
    label: str, count: int, concurrency: int, meter: Meter, client: Client, run_one: Callable[[int], Awaitable[str]]
) -> Phase:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ids: list[str] = []

    async def one(index: int) -> None:
        async with gate:
            began = time.monotonic()
            ids.append(await run_one(index))
            latencies.append(time.monotonic() - began)

    cpu_before = meter.cpu()
    began = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    seconds = time.monotonic() - began
    cpu_after = meter.cpu()
    rss = meter.rss_mb()
    events, actions = await _events(client, ids)
    return Phase(
        label,
        count,
        seconds,
        latencies,
        (cpu_after[0] - cpu_before[0]) / seconds,
        (cpu_after[1] - cpu_before[1]) / seconds,
        (cpu_after[2] - cpu_before[2]) / seconds,
        rss,
        events,
        actions,
    )


def _order(order_id: str, card: bool, customers: int | None = 50) -> dict[str, Any]:
    """``customers``: how many customers the orders spread over (None: one each, so that open invoices never
    add up to a credit hold, as 10,000 open orders on 50 customers would)."""
    customer = f"BENCH-{hash(order_id) % customers}" if customers else f"BENCH-{order_id}"
    return {
        "order_id": order_id,
        "customer": {"id": customer, "name": "Bench Customer", "email": "ap@bench.example"},
        "currency": "USD",
        "lines": [
            {"sku": "WIDGET", "description": "Widget", "quantity": 2, "unit_price": "19.99", "tax_rate_percent": "10"},
            {"sku": "GADGET", "description": "Gadget", "quantity": 1, "unit_price": "5.00", "tax_rate_percent": "10"},
        ],
        "payment_method": "card_on_file" if card else "bank_transfer",
        **({"stripe_payment_method": "pm_card_visa"} if card else {}),
    }


SHIPMENT = {
    "shipment_id": "S1",
    "lines": [{"sku": "WIDGET", "quantity": 2}, {"sku": "GADGET", "quantity": 1}],
    "carrier": "UPS",
    "tracking_number": "1ZBENCH",
}


async def bench_orders(stack: DevStack, client: Client, count: int, concurrency: int, rounds: int = 4) -> None:
    o2c = O2CClient(client)
    run = uuid.uuid4().hex[:6]
    meter = Meter(stack)

    async def order(index: int, tag: str = "") -> str:
        order_id = f"B{run}{tag}-{index:05d}"
        handle = await o2c.start_order(_order(order_id, card=True))
        await o2c.ship(order_id, SHIPMENT)
        await handle.result()
        return workflow_id(order_id)

    async def bare(index: int, tag: str = "") -> str:
        id_ = f"bare-{run}{tag}-{index:05d}"
        await client.execute_workflow(BARE_WORKFLOW, BARE_ACTIVITIES, id=id_, task_queue=TASK_QUEUE)
        return id_

    # Warm up both (sandbox imports, database connections, localstripe's first customer) unmeasured.
    await asyncio.gather(*(order(i, "w") for i in range(10)), *(bare(i, "w") for i in range(10)))
    # The two kinds take turns, so that a machine that slows down or speeds up during the run (shared cores)
    # weighs on both alike.
    ours_rounds, floor_rounds = [], []
    for r in range(rounds):
        share = count // rounds + (1 if r < count % rounds else 0)
        ours_rounds.append(await _phase("o2c order", share, concurrency, meter, client, partial(order, tag=f"r{r}")))
        floor_rounds.append(
            await _phase(
                f"bare ({BARE_ACTIVITIES} no-ops)", share, concurrency, meter, client, partial(bare, tag=f"r{r}")
            )
        )
    ours, floor = Phase.combine(ours_rounds), Phase.combine(floor_rounds)
    s = stack.settings
    print(
        f"\no2c bench orders: {count} of each in {rounds} alternating round(s), {concurrency} in flight, "
        f"{s.worker_processes} worker process(es), workflow sandbox {'on' if s.workflow_sandbox else 'off'}"
    )
    print(HEADER)
    print(ours.row())
    print(floor.row())
    print(f"ratio (o2c / bare throughput): {ours.rate / floor.rate:.2f}")


async def bench_idle(stack: DevStack, client: Client, count: int, concurrency: int) -> None:
    o2c = O2CClient(client)
    run = uuid.uuid4().hex[:6]
    meter = Meter(stack)
    # Paced: at most this many orders between start and invoice. Started all at once, more orders than the
    # workflow cache holds would be evicted and replayed at every step, and placing would crawl.
    window = max(1, min(concurrency, stack.settings.worker_cache_size // 2))
    began = time.monotonic()

    async def place(index: int) -> None:
        order_id = f"I{run}-{index:05d}"
        await o2c.start_order(_order(order_id, card=False, customers=None))
        await o2c.ship(order_id, SHIPMENT)

    query = f'OrderStatus = "INVOICED" AND WorkflowId STARTS_WITH "order-I{run}"'
    started = invoiced = 0
    reported = began
    while invoiced < count:
        batch = min(window - (started - invoiced), count - started)
        if batch > 0:
            await asyncio.gather(*(place(started + i) for i in range(batch)))
            started += batch
        await asyncio.sleep(0.5)
        invoiced = (await client.count_workflows(query)).count
        if time.monotonic() - reported > 30:
            reported = time.monotonic()
            print(f"  {invoiced} of {count} invoiced and waiting …", flush=True)
    placed = time.monotonic() - began
    await asyncio.sleep(10)  # let the worker settle with every order resting on its timer
    rss = meter.rss_mb()
    probes = []
    for index in range(20):
        start = time.monotonic()
        await o2c.status(f"I{run}-{index * (count // 20):05d}")
        probes.append(time.monotonic() - start)
    start = time.monotonic()
    await client.count_workflows(query)
    listing = time.monotonic() - start
    print(f"\no2c bench idle: {count} orders invoiced and waiting on reminder timers after {placed:.0f} s")
    print(f"worker RSS {rss:.0f} MB (cache {stack.settings.worker_cache_size} workflows per process)")
    print(
        f"server still answers: status query p50 {statistics.median(probes) * 1000:.0f} ms, "
        f"max {max(probes) * 1000:.0f} ms (orders not in the cache are replayed to answer); "
        f"visibility count {listing * 1000:.0f} ms"
    )


async def run_bench(
    what: str, count: int | None, processes: int, concurrency: int, sandboxed: bool = False, rounds: int = 4
) -> int:
    state = Path(tempfile.mkdtemp(prefix="o2c-bench-"))
    settings = Settings(
        state_dir=state,
        temporal_port=_free_port(),
        temporal_ui_port=_free_port(),
        localstripe_port=_free_port(),
        sendgrid_sink_port=_free_port(),
        webhook_port=_free_port(),
        codec_port=_free_port(),
        worker_processes=processes,
        workflow_sandbox=sandboxed,
    )
    stack = DevStack(settings, worker_command=COMMAND)
    # Stopped by SIGTERM or SIGINT (a backgrounded shell job ignores SIGINT), the stack still comes down.
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, main.cancel)
    try:
        await stack.start()
        client = await connect(f"127.0.0.1:{settings.temporal_port}", stack.settings)
        if what == "orders":
            await bench_orders(stack, client, count or 200, concurrency, rounds)
        else:
            await bench_idle(stack, client, count or 10_000, concurrency)
        return 0
    except StackError as exc:
        print(f"o2c bench: {exc}")
        return 2
    except asyncio.CancelledError:
        print("o2c bench: stopped")
        return 130
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)
