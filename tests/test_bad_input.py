"""Generated bad input: the boundary refuses it with a validation error and nothing else, and a workflow
started with it (from a client that skipped validation) fails at once with that error instead of hanging."""

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.contract import PaymentReceived, PlaceOrder, ShipmentDispatched
from models.naming import workflow_id
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
    with contextlib.suppress(ValidationError):
        PaymentReceived.model_validate(base | {field: value})


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_shipment_boundary_only_raises_validation_errors(value: Any) -> None:
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
