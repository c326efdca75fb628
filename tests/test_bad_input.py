"""Generated bad input: the boundary refuses it with a validation error and nothing else, and a workflow
started with it (from a client that skipped validation) fails at once with that error instead of hanging."""

import contextlib
import json
import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.contract import OrderOutcome, OrderStatus, PaymentReceived, PlaceOrder, ShipmentDispatched, StatusView
from models.naming import workflow_id
from models.tables import AuditEntry
from o2c.schemas import PUBLISHED
from tests.harness import running_worker
from tests.support import Database, sample_order

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


# ------------------------------------------------------------------ every signal and update payload

MESSAGES = {name: model for name, model in PUBLISHED.items() if name.split(".")[0] in ("signal", "decision")}


def payloads_for(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts over the model's own field names (so validation gets past "unknown field") with any values,
    sometimes with a stray key."""
    fields = st.sampled_from(sorted(model.model_fields))
    own = st.dictionaries(fields, JSON_VALUES, max_size=len(model.model_fields))
    return st.one_of(own, st.builds(lambda d, k, v: d | {k: v}, own, st.text(max_size=8), JSON_VALUES))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_signal_and_update_boundary_only_raises_validation_errors(name: str, data: st.DataObject) -> None:
    payload = data.draw(payloads_for(MESSAGES[name]))
    CASES[name] += 1
    with contextlib.suppress(ValidationError):
        MESSAGES[name].model_validate(payload)


def garbage(rng: random.Random, depth: int = 0) -> Any:
    """Seeded junk of every JSON shape, for payloads sent to a live workflow."""
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 10**40, 1.5, float("inf")])
    if kind == 2:
        return rng.choice(["", "NaN", "1e999", "-0.001", "💥" * 50, "x" * 5000, "2026-02-30", "USD"])
    if kind == 3:
        return str(rng.uniform(-1e6, 1e6))
    if kind == 4:
        return "".join(rng.choice("abc123-:._ @") for _ in range(rng.randrange(1, 70)))
    if kind == 5:
        return rng.randrange(-(10**9), 10**9)
    if kind == 6:
        return [garbage(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["by", "amount", "reason", "dispute_id", "lines", "x"]): garbage(rng, depth + 1) for _ in range(3)
    }


async def test_a_live_order_survives_junk_on_every_signal_and_update(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    """Hundreds of junk payloads on every signal and update name: each signal is refused on the timeline,
    each update rejected by its validator, nothing is written, and the order still answers and closes."""
    rng = random.Random(7)
    signals = [n.split(".", 1)[1] for n in MESSAGES if n.count(".") == 1]  # the order's (not Chargeback's)
    order = sample_order(order_id="JUNK-1")
    sent = rejected = 0
    async with running_worker(time_env.client, sqlite_db, task_queue):
        handle = await time_env.client.start_workflow(
            "OrderToCash", order, id=workflow_id(order.order_id), task_queue=task_queue, result_type=OrderOutcome
        )
        for _ in range(12):
            for name in signals:
                payload = garbage(rng)
                if isinstance(payload, dict):
                    payload.pop("by", None)  # never a complete, valid decision by accident
                await handle.signal(name, payload)
                sent += 1
        for name in [n.split(".", 1)[1] for n in MESSAGES if n.startswith("decision.")]:
            for _ in range(4):
                with pytest.raises((WorkflowUpdateFailedError, RPCError)):
                    await handle.execute_update(name, garbage(rng))
                rejected += 1
        view = await handle.query("status", result_type=StatusView)
        refused = [e for e in view.timeline if e.refused]
        await handle.execute_update("cancel_order", {"by": "test", "reason": "junk test done"})
        outcome = await handle.result()
    with Session(sqlite_db.engine) as session:
        written = session.exec(select(AuditEntry).where(AuditEntry.order_id == order.order_id)).all()
    CASES["live signals"] += sent
    CASES["live updates"] += rejected
    assert Counter(e.event for e in refused) == {name: 12 for name in signals}, "each junk signal is refused, visibly"
    assert view.totals.paid == 0 and view.totals.shipped == 0 and not view.invoices
    assert outcome.status == OrderStatus.CANCELLED
    assert {e.event for e in written} <= {"order_placed", "credit_approve", "cancelled", "order_closed"}, (
        "junk wrote nothing"
    )


def test_zz_print_how_many_cases_ran() -> None:
    """Runs last in this module: the count of generated bad inputs each boundary saw."""
    print("\nbad input cases: " + ", ".join(f"{name} {n}" for name, n in sorted(CASES.items())))
    print(f"total {sum(CASES.values())}")
