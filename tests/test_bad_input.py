"""Generated bad input, at the boundary and on live orders (issue #19).

At the boundary: the contract's models raise nothing but ``ValidationError`` on junk, and a workflow started
with junk fails at once with that error. On live orders: every signal and update ``OrderToCash`` declares gets
adversarial but well-formed payloads (many pass the contract and reach the rules) in every stage an order
goes through. Each message is accepted or refused (a refused signal on the timeline, a refused update as
``InvalidDecision``), and none fails a workflow task, keeps the order from coming to rest or silences its
``status`` query, now or when time passes.
"""

import asyncio
import contextlib
import itertools
import json
import os
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from models.contract import (
    Customer,
    DecisionResult,
    InvoicingPolicy,
    OpenDispute,
    OrderStatus,
    PaymentReceived,
    PlaceOrder,
    ShipmentDelivered,
    ShipmentDispatched,
    Stage,
    StatusView,
    TimelineEntry,
)
from models.money import MAX_MINOR_UNITS, MoneyError, exponent, quantum, to_minor
from models.naming import WORKFLOW_NAME, workflow_id
from models.policy import DEFAULT_DUNNING
from o2c.devtools.schemas import PUBLISHED
from tests.harness import eventually, running_worker, start, status
from tests.support import Database, sample_order
from workers.worker import WORKFLOWS

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "-1", "0", "1e999", "NaN", "1.005", "12.345", "USD", "JPY", "XXX", "not-an-email", "@"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


CASES: Counter[str] = Counter()  # generated bad inputs per boundary, printed by the last test


def mutate(base: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


ORDER = sample_order(order_id="HYPO-1").model_dump(mode="json")
ORDER_PATHS = [
    ["order_id"],
    ["currency"],
    ["lines"],
    ["lines", 0, "quantity"],
    ["lines", 0, "unit_price"],
    ["lines", 0, "sku"],
    ["lines", 0, "tax_rate_percent"],
    ["customer", "email"],
    ["customer"],
    ["payment_terms"],
    ["payment_method"],
    ["invoicing"],
    ["lines", 0, "discount_percent"],
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(ORDER_PATHS), value=JSON_VALUES)
def test_order_boundary_only_raises_validation_errors(path: list[str | int], value: Any) -> None:
    """Any other exception (TypeError, InvalidOperation, KeyError…) propagates and fails the test."""
    CASES["workflow-input.PlaceOrder"] += 1
    with contextlib.suppress(ValidationError):
        PlaceOrder.model_validate(mutate(ORDER, path, value))


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["payment_id", "amount", "currency", "method", "received_at"]), value=JSON_VALUES)
def test_payment_boundary_only_raises_validation_errors(field: str, value: Any) -> None:
    base = {
        "payment_id": "P1",
        "amount": "10.00",
        "currency": "USD",
        "method": "card",
        "received_at": "2026-01-01T00:00:00Z",
    }
    CASES["signal.payment_received (field by field)"] += 1
    with contextlib.suppress(ValidationError):
        PaymentReceived.model_validate(base | {field: value})


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_shipment_boundary_only_raises_validation_errors(value: Any) -> None:
    CASES["signal.shipment_dispatched (lines)"] += 1
    with contextlib.suppress(ValidationError):
        ShipmentDispatched.model_validate(
            {"shipment_id": "S1", "lines": value, "carrier": "UPS", "tracking_number": "1"}
        )


BAD_ORDERS = [
    mutate(ORDER, ["lines"], []),
    mutate(ORDER, ["currency"], "XYZ"),
    mutate(ORDER, ["lines", 0, "quantity"], 0),
    mutate(ORDER, ["lines", 0, "unit_price"], "-3.00"),
    mutate(ORDER, ["lines", 0, "unit_price"], "1.005"),
    mutate(ORDER, ["customer", "email"], "nobody"),
    mutate(ORDER, ["lines", 0, "unit_price"], "1e30"),
]


async def test_bad_workflow_input_fails_fast_not_stuck(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    async with running_worker(time_env.client, sqlite_db, task_queue):
        for index, payload in enumerate(BAD_ORDERS):
            payload = mutate(payload, ["order_id"], f"BAD-{index}")
            handle = await time_env.client.start_workflow(
                "OrderToCash", payload, id=workflow_id(payload["order_id"]), task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            cause = failure.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "ValidationError"


# ------------------------------------------------------------------ the messages OrderToCash declares

# The order's workflow as the worker registers it: a handler added to it is explored without a change here.
_DEFINITION = next(
    d for d in (workflow._Definition.from_class(w) for w in WORKFLOWS) if d is not None and d.name == WORKFLOW_NAME
)
UPDATES: dict[str, type[BaseModel]] = {
    name: defn.arg_types[0] for name, defn in _DEFINITION.updates.items() if name and defn.arg_types
}


def _signal_model(name: str) -> type[BaseModel]:
    """Signals take raw payloads and decode them inside; their model is the published contract's."""
    model = UPDATES.get(name) or PUBLISHED.get(f"signal.{name}")
    if model is None:
        raise AssertionError(f"signal {name!r} has no model in o2c.schemas.PUBLISHED: publish it, then it is tested")
    return model


SIGNALS: dict[str, type[BaseModel]] = {name: _signal_model(name) for name in _DEFINITION.signals if name}
MESSAGES = [("signal", name, model) for name, model in sorted(SIGNALS.items())] + [
    ("update", name, model) for name, model in sorted(UPDATES.items())
]


def payloads_for(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts over the model's own field names (so validation gets past "unknown field") with any values,
    sometimes with a stray key."""
    fields = st.sampled_from(sorted(model.model_fields))
    own = st.dictionaries(fields, JSON_VALUES, max_size=len(model.model_fields))
    return st.one_of(own, st.builds(lambda d, k, v: d | {k: v}, own, st.text(max_size=8), JSON_VALUES))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind, name, _ in MESSAGES])
def test_every_signal_and_update_boundary_only_raises_validation_errors(
    kind: str, name: str, data: st.DataObject
) -> None:
    model = (SIGNALS if kind == "signal" else UPDATES)[name]
    payload = data.draw(payloads_for(model))
    CASES[f"{kind}.{name}"] += 1
    with contextlib.suppress(ValidationError):
        model.model_validate(payload)


# ----------------------------------------------------------------- well-formed, adversarial payloads


@dataclass(frozen=True)
class Facts:
    """What a payload may refer to on the order it goes to: its money, its ids, its day."""

    currency: str
    due: Decimal
    today: date
    skus: tuple[str, ...]
    left_to_ship: dict[str, int]
    ids: tuple[str, ...]  # dispute, shipment, payment, charge and request ids this order has seen
    disputes: tuple[str, ...]  # the open ones


PERSONS = ["finance", "Grace Hopper", "FINANCE", "x" * 120, "x" * 121, "  ", "Zoë 🙂 名前", "a\x00b", "\u202eevil"]
TEXTS = [
    "customer says the goods arrived damaged",
    "",
    "ab",
    "abc",
    "x" * 2000,
    "x" * 2001,
    "\x00\x01\x02 control",
    "line\r\nBcc: x@example.com",
    "\u202eright-to-left override",
    "名前 🙂 ünïcödé",
    "\t tabs \t",
]
ID_SHAPES = ["X-1", "0", "a" * 64, "A.b:c-d_9", " D-1 ", "", "-x", "a" * 65, "ü1", "D 1"]
MOMENTS = [
    "2026-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00+14:00",
    "2026-13-01T00:00:00Z",
]


def money(facts: Facts) -> st.SearchStrategy[Any]:
    """Amounts around what the order owes, around what its currency can say, and around what we carry."""
    step = quantum(facts.currency)
    largest = Decimal(MAX_MINOR_UNITS).scaleb(-exponent(facts.currency))
    relative = [facts.due, facts.due + step, facts.due - step, (facts.due / 2).quantize(step), facts.due + step / 10]
    literal = ["10.00", "0.01", "0.001", "1.001", "10.5", "1", "0", "-1", "1E+2", "1e-3", "100.000", "9" * 22, "9" * 23]
    return st.one_of(
        st.sampled_from(literal),
        st.sampled_from([*relative, largest, largest + step, largest * 10]).map(str),
        st.builds(lambda n, places: str(Decimal(n).scaleb(-places)), st.integers(-(10**3), 10**17), st.integers(0, 4)),
        st.sampled_from([1, 0.5, 1.001, 1e15, 10**16]),
    )


def identifier(facts: Facts) -> st.SearchStrategy[str]:
    """Ids the order knows (a repeat with other content) or not, valid or nearly so."""
    known = [st.sampled_from(facts.ids)] if facts.ids else []
    return st.one_of(*known, st.sampled_from(ID_SHAPES))


def shipped_lines(facts: Facts) -> st.SearchStrategy[list[dict[str, Any]]]:
    left = [q for q in facts.left_to_ship.values() if q > 0] or [1]
    line = st.fixed_dictionaries(
        {
            "sku": st.sampled_from([*facts.skus, "NOT-ORDERED", facts.skus[0].lower()]),
            "quantity": st.sampled_from([1, *left, max(left) + 1, 0, -1, 1_000_000, 1_000_001]),
        }
    )
    return st.lists(line, max_size=3)


def promised_day(facts: Facts) -> st.SearchStrategy[str]:
    ahead = st.sampled_from([7, 0, -1, 1, 180, 181, 3650]).map(lambda d: (facts.today + timedelta(days=d)).isoformat())
    return st.one_of(ahead, st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-29", "2026-02-30"]))


FieldStrategy = Callable[[Facts], st.SearchStrategy[Any]]
TEXT: FieldStrategy = lambda facts: st.one_of(st.sampled_from(TEXTS), st.text(max_size=40))  # noqa: E731
PERSON: FieldStrategy = lambda facts: st.sampled_from(PERSONS)  # noqa: E731
MOMENT: FieldStrategy = lambda facts: st.sampled_from(MOMENTS)  # noqa: E731
FIELDS: dict[str, FieldStrategy] = {
    "amount": money,
    "currency": lambda facts: st.sampled_from([facts.currency, "EUR", "JPY", "XXX", "usd"]),
    "by": PERSON,
    "approved_by": PERSON,
    "promised_date": promised_day,
    "lines": shipped_lines,
    "tax_rate_percent": lambda facts: st.sampled_from(["10", "0", "100", "100.0001", "-1", "12.34567"]),
    "received_at": MOMENT,
    "delivered_at": MOMENT,
    "dispatched_at": MOMENT,
}
for _name in ("dispute_id", "shipment_id", "payment_id", "charge_id", "request_id"):
    FIELDS[_name] = identifier


def by_annotation(model: type[BaseModel], name: str) -> FieldStrategy:
    """Fields without a strategy of their own (a new one, say) still get values of their kind."""
    annotation = model.model_fields[name].annotation
    choices = [getattr(member, "value", member) for member in getattr(annotation, "__members__", {}).values()]
    if choices:
        return lambda facts: st.sampled_from([*choices, "not-a-choice"])
    return TEXT


def sound(model: type[BaseModel], facts: Facts) -> dict[str, Any]:
    """Values the contract and (mostly) the order's rules accept: the payload an example starts from."""
    step = quantum(facts.currency)
    left = {sku: qty for sku, qty in facts.left_to_ship.items() if qty > 0} or {facts.skus[0]: 1}
    values: dict[str, Any] = {
        "amount": str((min(facts.due, Decimal(10)) if facts.due > 0 else Decimal(10)).quantize(step)),
        "currency": facts.currency,
        "by": "finance",
        "approved_by": "controller",
        "reason": "customer says the goods arrived damaged",
        "description": "late delivery fee",
        "promised_date": (facts.today + timedelta(days=7)).isoformat(),
        "received_at": "2026-01-01T00:00:00Z",
        "delivered_at": "2026-01-01T00:00:00Z",
        "lines": lines_of(left),
        "carrier": "UPS",
        "tracking_number": "1Z2",
        "method": "bank_transfer",
        "outcome": "credit_note",
        "dispute_id": facts.disputes[0] if facts.disputes and model is not OpenDispute else "D-2",
        "shipment_id": "S-1" if model is ShipmentDelivered else "S-2",
        "payment_id": "P-2",
        "charge_id": "FEE-1",
    }
    return {name: values[name] for name in model.model_fields if name in values}


OMITTED = object()


@st.composite
def payload_for(draw: st.DrawFn, model: type[BaseModel], facts: Facts) -> dict[str, Any]:
    """A sound payload with up to two fields twisted (an adversarial value, or left out), now and then a key
    the contract does not know. Money is twisted most: it is what wedged orders (issue #19)."""
    payload = sound(model, facts)
    for name in model.model_fields:
        if name not in payload and model.model_fields[name].is_required():
            payload[name] = draw((FIELDS.get(name) or by_annotation(model, name))(facts))
    names = sorted(model.model_fields)
    weighted = names + ["amount"] * (3 if "amount" in names else 0)
    for name in draw(st.lists(st.sampled_from(weighted), max_size=2, unique=True)):
        value = draw(st.one_of((FIELDS.get(name) or by_annotation(model, name))(facts), st.just(OMITTED)))
        if value is OMITTED:
            payload.pop(name, None)
        else:
            payload[name] = value
    if draw(st.integers(0, 19)) == 19:
        payload["unknown_field"] = 1
    return payload


# ---------------------------------------------------------------------- live orders in every stage


class Wedged(AssertionError):
    """An order that failed a workflow task, never came to rest, or did not answer its status query."""


@dataclass
class LiveOrder:
    stage: str
    order: PlaceOrder
    handle: WorkflowHandle[Any, Any]
    ids: set[str] = field(default_factory=set)
    received: list[str] = field(default_factory=list)  # what the test sent it, for the report
    wedged: bool = False
    finished: bool = False

    async def stop(self) -> None:
        """A wedged order retries its workflow task forever and keeps the server from skipping time."""
        self.wedged = True
        with contextlib.suppress(RPCError):
            await self.handle.terminate("wedged by test_bad_input; see the test's report")


Check = Callable[[StatusView], bool]


def promise_pending(view: StatusView) -> bool:
    kept = [e.event for e in view.timeline if not e.refused and e.event.startswith("promise")]
    return bool(kept) and kept[-1] == "promise_to_pay"


STAGES: dict[str, Check] = {
    "credit_hold": lambda v: v.status == OrderStatus.CREDIT_HOLD,
    "awaiting_shipment": lambda v: v.status == OrderStatus.AWAITING_SHIPMENT and not any(v.shipped.values()),
    "partially_shipped": lambda v: v.status == OrderStatus.PARTIALLY_SHIPPED,
    "invoiced": lambda v: v.status == OrderStatus.INVOICED and v.dunning_level == 0,
    "invoiced_jpy": lambda v: v.status == OrderStatus.INVOICED and v.dunning_level == 0,
    "partly_shipped_and_invoiced": lambda v: v.status == OrderStatus.INVOICED and v.stage == Stage.FULFILLMENT,
    "overdue_after_dunning": lambda v: v.status == OrderStatus.OVERDUE and v.dunning_level >= 1,
    "disputed": lambda v: v.status == OrderStatus.DISPUTED and any(d.dispute_id == "D-1" for d in v.disputes),
    "promised": lambda v: v.status in (OrderStatus.INVOICED, OrderStatus.OVERDUE) and promise_pending(v),
    "closed": lambda v: v.stage == Stage.CLOSED,
}
EVERYTHING = {"WIDGET": 2, "GADGET": 1}


def shipment(shipment_id: str, lines: dict[str, int]) -> ShipmentDispatched:
    return ShipmentDispatched.model_validate(
        {"shipment_id": shipment_id, "carrier": "UPS", "tracking_number": "1Z", "lines": lines_of(lines)}
    )


def lines_of(quantities: dict[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": qty} for sku, qty in quantities.items()]


class Orders:
    """One live order per stage, placed again when the last one left its stage (a message closed it, time
    passed) or was wedged, so an example finds its stage whatever came before it."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.task_queue = task_queue
        self.current: dict[str, LiveOrder] = {}
        self.placed: list[LiveOrder] = []
        self._serial = itertools.count(1)

    async def get(self, stage: str) -> tuple[LiveOrder, StatusView]:
        live = self.current.get(stage)
        if live is not None and not live.wedged:
            view = await status(live.handle)
            if STAGES[stage](view):
                return live, view
        live = await self._place(stage)
        self.current[stage] = live
        view = await eventually(live.handle, STAGES[stage], stage)
        return live, view

    async def pass_time(self, until: date, patience: float = 30.0) -> None:
        """Skips time to 10:00 UTC that day (the orders' timers run at 09:00). The server skips only while
        every workflow is idle, so orders are watched meanwhile: one wedged on the way is stopped and
        reported."""
        target = datetime.combine(until, datetime.min.time(), UTC) + timedelta(hours=10)
        sleeping = asyncio.ensure_future(
            self.env.sleep(max(target - await self.env.get_current_time(), timedelta(seconds=1)))
        )
        found: list[str] = []
        deadline = asyncio.get_running_loop().time() + patience
        while not sleeping.done() and not found and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait([sleeping], timeout=0.5)
            found += await self.sweep()
        if not sleeping.done():
            sleeping.cancel()
            raise Wedged(f"time could not pass to {until}: " + ("; ".join(found) or "the server never got idle"))
        try:
            sleeping.result()
        except RPCError as err:
            found.append(f"the test server's sleep failed ({err})")
        found += await self.sweep()
        if found:
            raise Wedged(f"while time passed to {until}: " + "; ".join(found))

    async def sweep(self) -> list[str]:
        """Stops and describes every order whose history shows it wedged."""
        found = []
        for live in self.placed:
            if live.wedged or live.finished:
                continue
            events = (await live.handle.fetch_history()).events
            live.finished = events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
            problem, _ = history_problem(events)
            if problem:
                await live.stop()
                found.append(f"the {live.stage} order {live.order.order_id} {problem}; it had received {live.received}")
        return found

    async def _place(self, stage: str) -> LiveOrder:
        order_id = f"NOWEDGE-{next(self._serial)}-{stage}"
        customer = Customer(id=f"C-{order_id}", name="Wedge Tester", email="wedge@example.com")
        extra: dict[str, Any] = {"customer": customer}
        if stage == "credit_hold":
            extra["lines"] = [("REACTOR", 1, "25000.00")]
        if stage == "invoiced_jpy":
            extra |= {"currency": "JPY", "lines": [("WIDGET", 2, "1500"), ("GADGET", 1, "500")]}
        if stage == "partly_shipped_and_invoiced":
            extra["invoicing"] = InvoicingPolicy.PER_SHIPMENT
        order = sample_order(order_id=order_id, **extra)
        live = LiveOrder(stage, order, await start(self.env.client, order, self.task_queue))
        self.placed.append(live)
        handle = live.handle
        if stage in ("credit_hold", "awaiting_shipment"):
            return live
        if stage in ("partially_shipped", "partly_shipped_and_invoiced"):
            await handle.signal("shipment_dispatched", shipment("S-1", {"WIDGET": 1}))
            live.ids.add("S-1")
            return live
        await handle.signal("shipment_dispatched", shipment("S-1", EVERYTHING))
        live.ids.add("S-1")
        view = await eventually(handle, lambda v: bool(v.invoices), "invoiced")
        if stage == "overdue_after_dunning":
            await self.pass_time(view.invoices[0].due_date + timedelta(days=3))
        elif stage == "disputed":
            await self._decide(live, "open_dispute", {"by": "finance", "dispute_id": "D-1", "amount": "10.00"})
        elif stage == "promised":
            promise = {"by": "finance", "promised_date": (view.invoices[0].issued_on + timedelta(days=20)).isoformat()}
            await self._decide(live, "promise_to_pay", promise | {"amount": "20.00"})
        elif stage == "closed":
            paid = {"payment_id": "P-1", "currency": live.order.currency, "method": "bank_transfer"}
            received = paid | {"amount": str(view.totals.due), "received_at": "2026-01-01T00:00:00Z"}
            await handle.signal("payment_received", PaymentReceived.model_validate(received))
            live.ids.add("P-1")
            await asyncio.wait_for(handle.result(), 30)
        return live

    async def _decide(self, live: LiveOrder, name: str, decision: dict[str, Any]) -> None:
        reason = {"reason": "goods arrived damaged"} if name == "open_dispute" else {}
        await live.handle.execute_update(name, decision | reason, result_type=DecisionResult)
        live.ids.update(v for k, v in decision.items() if k.endswith("_id"))


async def facts_of(orders: Orders, live: LiveOrder, view: StatusView) -> Facts:
    ordered = {line.sku: line.quantity for line in live.order.lines}
    return Facts(
        currency=live.order.currency,
        due=view.totals.due,
        today=(await orders.env.get_current_time()).date(),
        skus=tuple(ordered),
        left_to_ship={sku: qty - view.shipped.get(sku, 0) for sku, qty in ordered.items()},
        ids=tuple(sorted(live.ids | {d.dispute_id for d in view.disputes})),
        disputes=tuple(d.dispute_id for d in view.disputes if d.status == "open"),
    )


# ------------------------------------------------------------------------------ sending and judging

_ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
_BROKEN = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "workflow_execution_failed_event_attributes",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "workflow_execution_terminated_event_attributes",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "workflow_execution_timed_out_event_attributes",
}


def history_problem(events: Sequence[HistoryEvent]) -> tuple[str | None, bool]:
    """What went wrong in a workflow's history (a failed workflow task, a failed run), and whether the workflow
    is at rest: every workflow task finished after the last signal, no activity scheduled and unfinished."""
    tasks_open = 0
    activities: set[int] = set()
    last_signal = last_task_done = 0
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return f"workflow task failed (event {event.event_id}): {failure.message}", False
        if kind in _BROKEN:
            return f"the workflow ended {EventType.Name(kind)}: {getattr(event, _BROKEN[kind])}", False
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks_open += 1
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT):
            tasks_open -= 1
            last_task_done = event.event_id
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            last_signal = event.event_id
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif kind in _ACTIVITY_ENDS:
            activities.discard(getattr(event, _ACTIVITY_ENDS[kind]).scheduled_event_id)
    completed = bool(events) and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    return None, completed or (tasks_open == 0 and not activities and last_signal < last_task_done)


QUERY_TIMEOUT = timedelta(seconds=5)
REST_TIMEOUT = 15.0  # seconds for an order to finish what a message started


def decoded(model: type[BaseModel], payload: dict[str, Any]) -> BaseModel | None:
    """The payload as the workflow decodes it (JSON on the wire), or None when the contract refuses it."""
    try:
        return model.model_validate_json(json.dumps(payload))
    except ValidationError:
        return None


def no_money_here(message: BaseModel, currency: str) -> bool:
    """A decision whose amount is no money in the order's currency (1.001 USD, beyond what we carry); a
    payment carries its own currency, which the contract checks."""
    amount = getattr(message, "amount", None)
    if amount is None or "currency" in type(message).model_fields:
        return False
    try:
        to_minor(amount, currency)
    except MoneyError:
        return True
    return False


def added(before: list[TimelineEntry], after: list[TimelineEntry]) -> list[TimelineEntry]:
    """Entries appended since ``before`` (the timeline keeps its newest entries only)."""
    for dropped in range(len(before) + 1):
        kept = before[dropped:]
        if after[: len(kept)] == kept:
            return after[len(kept) :]
    return after


async def come_to_rest(handle: WorkflowHandle[Any, Any], what: str) -> StatusView:
    """Waits until the order has handled every message and activity, then asks its status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REST_TIMEOUT
    while True:
        problem, resting = history_problem((await handle.fetch_history()).events)
        if problem:
            raise Wedged(f"{what}: {problem}")
        if resting:
            break
        if loop.time() > deadline:
            raise Wedged(f"{what}: not at rest after {REST_TIMEOUT:.0f} s (an activity retrying, a task open)")
        await asyncio.sleep(0.02)
    try:
        return await asyncio.wait_for(
            handle.query("status", result_type=StatusView, rpc_timeout=QUERY_TIMEOUT),
            QUERY_TIMEOUT.total_seconds() + 2,
        )
    except (RPCError, TimeoutError) as err:
        raise Wedged(f"{what}: the status query did not answer: {err}") from err


async def answer_to_update(
    handle: WorkflowHandle[Any, Any], name: str, payload: dict[str, Any], what: str
) -> BaseException | None:
    """None when accepted, else why it was refused. An update that fails a workflow task is never answered:
    its caller would wait for an RPC timeout, so the history is watched meanwhile."""
    update = asyncio.ensure_future(
        handle.execute_update(name, payload, result_type=DecisionResult, rpc_timeout=QUERY_TIMEOUT)
    )
    deadline = asyncio.get_running_loop().time() + QUERY_TIMEOUT.total_seconds() + 2
    while not update.done():
        await asyncio.wait([update], timeout=0.2)
        if update.done():
            break
        problem, _ = history_problem((await handle.fetch_history()).events)
        if problem or asyncio.get_running_loop().time() > deadline:
            update.cancel()
            raise Wedged(f"{what}: the update got no answer: {problem or 'timed out'}")
    try:
        update.result()
    except WorkflowUpdateFailedError as err:
        return err.cause
    return None


@dataclass
class Tally:
    messages: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)


async def send(
    orders: Orders, tally: Tally, kind: str, name: str, model: type[BaseModel], stage: str, payload: dict[str, Any]
) -> None:
    live, before = await orders.get(stage)
    what = f"{kind} {name} to the {stage} order {live.order.order_id} with {payload!r}"
    message = decoded(model, payload)
    tally.stages[stage] += 1
    live.received.append(f"{kind} {name} {payload!r}")
    try:
        await judge(orders, tally, live, kind, name, message, payload, before, what)
    except Wedged:
        await live.stop()
        raise
    if message is not None:
        live.ids.update(str(v) for k, v in message.model_dump().items() if k.endswith("_id") and v)


async def judge(
    orders: Orders,
    tally: Tally,
    live: LiveOrder,
    kind: str,
    name: str,
    message: BaseModel | None,
    payload: dict[str, Any],
    before: StatusView,
    what: str,
) -> None:
    handle = live.handle
    try:
        if kind == "signal":
            await handle.signal(name, payload)
        else:
            refusal = await answer_to_update(handle, name, payload, what)
    except RPCError as err:
        if not stage_closed(live, err):
            raise Wedged(f"{what}: the {kind} got an RPC error instead of an answer: {err!r}") from err
        tally.messages["to a closed order"] += 1
        await come_to_rest(handle, what)
        return
    after = await come_to_rest(handle, what)
    new = added(before.timeline, after.timeline)
    if kind == "signal":
        refused = any(e.refused and e.event == name for e in new)
        accepted = any(not e.refused and e.event == name for e in new)
    else:
        refused, accepted = refusal is not None, refusal is None
        if refusal is not None:
            assert isinstance(refusal, ApplicationError), f"{what}: refused with {refusal!r}"
            if message is not None:
                assert refusal.type == "InvalidDecision", f"{what}: a valid payload refused as {refusal.type}"
    tally.messages[kind] += 1
    tally.messages[f"{kind} refused"] += refused
    if name == "promise_to_pay" and accepted:
        # A promise is checked when it falls due: that is where a bad amount in it used to fail every task.
        promised = getattr(message, "promised_date")  # noqa: B009
        try:
            await orders.pass_time(promised + timedelta(days=DEFAULT_DUNNING.promise_grace_days + 1))
        except Wedged as err:
            raise Wedged(f"{what}: {err}") from err
        await come_to_rest(handle, f"{what}, on the day the promise is checked")
    if message is None or no_money_here(message, live.order.currency):
        assert refused, f"{what}: not refused" + (f"; the timeline got {new}" if kind == "signal" else "")


def no_money_in(currency: str) -> list[str]:
    """Issue #19's amounts: one decimal more than the currency has, and one minor unit beyond what we carry."""
    step = quantum(currency)
    return [str(1 + step / 10), str((MAX_MINOR_UNITS + 1) * step)]


async def every_decision_with_no_money(orders: Orders, tally: Tally) -> list[str]:
    """Each decision that carries an amount, as a signal and as an update, with amounts that are no money
    in the order's currency, to orders where money is due (USD and JPY) and to an order with a dispute open.
    Hypothesis reaches these by chance; these are certain."""
    failures = []
    for kind, name, model in MESSAGES:
        if "amount" not in model.model_fields or "currency" in model.model_fields:
            continue
        for stage in ("invoiced", "invoiced_jpy", "disputed"):
            for amount in no_money_in("JPY" if stage == "invoiced_jpy" else "USD"):
                live, view = await orders.get(stage)
                payload = sound(model, await facts_of(orders, live, view)) | {"amount": amount}
                try:
                    await send(orders, tally, kind, name, model, stage, payload)
                except AssertionError as err:
                    failures.append(str(err))
    return failures


def stage_closed(live: LiveOrder, err: RPCError) -> bool:
    """Messages to a finished workflow are refused by the server; that is the only RPC error allowed."""
    return live.stage == "closed" and err.status == RPCStatusCode.NOT_FOUND


T = TypeVar("T")

EXAMPLES = int(os.environ.get("O2C_NO_WEDGE_EXAMPLES", "12"))  # per signal and update; raise it to dig deeper


@pytest.mark.timeout(600)  # about 40 s when nothing wedges; a wedge costs minutes of shrinking, and its report
async def test_no_well_formed_message_wedges_a_live_order(
    time_env: WorkflowEnvironment, database: Database, task_queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hypothesis explores each signal and update on live orders in every stage, then every decision that
    carries an amount gets issue #19's amounts, then 200 days pass. Every failure is collected and shown, with
    the message, the order's stage and what the order had received."""
    loop = asyncio.get_running_loop()
    tally = Tally()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=300)

    async with running_worker(time_env.client, database, task_queue):
        orders = Orders(time_env, task_queue)

        def explore(kind: str, name: str, model: type[BaseModel]) -> None:
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(data=st.data())
            def example(data: st.DataObject) -> None:
                stage = data.draw(st.sampled_from(sorted(STAGES)), label="stage")
                live, view = run(orders.get(stage))
                facts = run(facts_of(orders, live, view))
                payload = data.draw(payload_for(model, facts), label="payload")
                run(send(orders, tally, kind, name, model, stage, payload))

            example()

        failures = []
        for kind, name, model in MESSAGES:
            try:
                await asyncio.to_thread(explore, kind, name, model)
            except Exception as err:  # every handler is explored, then all failures are shown together
                failures.append("".join(traceback.format_exception_only(err)))
        failures += await every_decision_with_no_money(orders, tally)
        failures += await orders.sweep()
        try:  # promises, dunning, expiries: every timer comes due
            await orders.pass_time((await time_env.get_current_time()).date() + timedelta(days=200), patience=120)
        except Wedged as err:
            failures.append(str(err))
        for live in orders.placed:
            if not live.wedged:
                try:
                    await come_to_rest(live.handle, f"the {live.stage} order {live.order.order_id} 200 days on")
                except Wedged as err:
                    failures.append(f"{err}; it had received {live.received}")
    sent = sum(tally.stages.values())
    with capsys.disabled():
        print(
            f"\nno-wedge ({database.kind}): {sent} messages ({dict(tally.messages)}) to {len(orders.placed)} orders "
            f"in {len(tally.stages)} stages, {len(failures)} failures"
        )
    assert not failures, "\n\n".join(failures)


# Where each message is accepted, so that what it carries is written to the database.
ACCEPTED_IN = {
    "approve_credit": "credit_hold",
    "reject_credit": "credit_hold",
    "cancel_order": "awaiting_shipment",
    "shipment_dispatched": "partially_shipped",
    "resolve_dispute": "disputed",
}
FREE_TEXT = ("by", "approved_by", "reason", "note", "description", "reference", "carrier", "tracking_number", "code")


async def test_a_nul_in_free_text_does_not_wedge_an_order(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    """Each message with free text, as signal and update, where it would be accepted, with a NUL in every
    free-text field. PostgreSQL cannot store a NUL: accepted, each failed its activity on every retry and the
    order never moved on (found by the no-wedge test on PostgreSQL). The contract refuses it now."""
    tally = Tally()
    failures = []
    async with running_worker(time_env.client, database, task_queue):
        orders = Orders(time_env, task_queue)
        for kind, name, model in MESSAGES:
            texts = [field for field in FREE_TEXT if field in model.model_fields]
            if not texts:
                continue
            stage = ACCEPTED_IN.get(name, "invoiced")
            live, view = await orders.get(stage)
            payload = sound(model, await facts_of(orders, live, view)) | {f: f"{f}\x00 here" for f in texts}
            fresh = ("charge_id", "payment_id") + (("dispute_id",) if model is OpenDispute else ())
            payload |= {f: f"{kind}-{name}" for f in fresh if f in payload}
            try:
                await send(orders, tally, kind, name, model, stage, payload)
            except AssertionError as err:
                failures.append(str(err))
                break  # one is proof enough: each wedge waits out REST_TIMEOUT
    assert not failures, "\n\n".join(failures)


def test_zz_print_how_many_cases_ran(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: the count of generated bad inputs each boundary saw."""
    with capsys.disabled():
        print("\nbad input cases: " + ", ".join(f"{name} {n}" for name, n in sorted(CASES.items())))
        print(f"total {sum(CASES.values())}")
