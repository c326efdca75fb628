"""The happy path's cost in Temporal: at most 40 history events per order (issue #10) when fulfillment and
payment come at once (card on file: the charge pays the invoice), because quick database writes run as
local activities and search attributes are upserted only when the order rests. A bank transfer paid after
the invoice rests twice more (waiting for shipment, waiting for payment: a timer started and cancelled
and a workflow task each), so its budget is 46. Counted on real runs; the histories are kept for replay."""

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from models.contract import OrderStatus, PaymentChannel, PaymentMethod, PaymentReceived, ShipmentDispatched, ShippedLine
from models.tables import Invoice, Shipment
from o2c.platform.db import transaction
from tests.harness import eventually, keep_history, running_worker, sandboxed_replayer, start
from tests.support import Database, FakeStripe, sample_order

BUDGET = 40
BANK_TRANSFER_BUDGET = 46
SHIPMENT = ShipmentDispatched(
    shipment_id="S1",
    lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
    carrier="UPS",
    tracking_number="1Z",
)


async def events(handle: WorkflowHandle[Any, Any]) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)


async def test_bank_transfer_happy_path_fits_the_budget(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue):
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", SHIPMENT)
        await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        payment = PaymentReceived(
            payment_id="P1",
            amount=Decimal("49.48"),
            currency="USD",
            method=PaymentChannel.BANK_TRANSFER,
            received_at=datetime.now(UTC),
        )
        await handle.signal("payment_received", payment)
        assert (await handle.result()).status == OrderStatus.PAID
        counted = await events(handle)
    print(f"\nbank transfer happy path: {sum(counted.values())} events {dict(counted)}")
    assert counted["MARKER_RECORDED"] >= 5, "database writes ran as local activities"
    assert counted["ACTIVITY_TASK_SCHEDULED"] == 1, "only the email is a normal activity"
    assert counted["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"] <= 3, "one per rest, one at close"
    assert sum(counted.values()) <= BANK_TRANSFER_BUDGET


async def test_card_happy_path_fits_the_budget(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    async with running_worker(time_env.client, sqlite_db, task_queue, stripe_api=FakeStripe(["succeeded"])):
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", SHIPMENT)
        assert (await handle.result()).status == OrderStatus.PAID
        counted = await events(handle)
        await keep_history(handle, "card_paid")
    print(f"\ncard happy path: {sum(counted.values())} events {dict(counted)}")
    assert counted["ACTIVITY_TASK_SCHEDULED"] == 2, "the email and the charge"
    assert counted["MARKER_RECORDED"] == 4, "the order with its credit check; invoice; payment; close"
    assert sum(counted.values()) <= BUDGET


async def test_unsandboxed_worker_makes_the_same_history(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    """Production may run without the sandbox (O2C_WORKFLOW_SANDBOX=false): the same order then runs the same
    activities in the same order, and its history replays in the sandbox."""
    runs = []
    stripe = FakeStripe([])  # one for both orders: its PaymentIntent ids go on counting
    for sandboxed in (True, False):
        order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
        async with running_worker(time_env.client, sqlite_db, task_queue, stripe_api=stripe, sandboxed=sandboxed):
            handle = await start(time_env.client, order, task_queue)
            await handle.signal("shipment_dispatched", SHIPMENT)
            assert (await handle.result()).status == OrderStatus.PAID
        history = await handle.fetch_history()
        runs.append(activities_run(history))
        replayer = sandboxed_replayer()
        await replayer.replay_workflow(history)
    assert runs[0] == runs[1]
    assert runs[0][0] == "record_order" and runs[0][-1] == "close_order"


def activities_run(history: WorkflowHistory) -> list[str]:
    """Activity types in the order the workflow ran them, local ones read from their markers."""
    names = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            names.append(json.loads(data)["activity_type"])
    return names


async def test_a_shipment_is_written_with_its_invoice_or_before_the_order_rests(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    """The shipment that completes the order is written by issue_invoice in the invoice's own transaction
    (one local activity, not two); a partial one, with no invoice coming yet, is written before the order
    waits for the rest, so the database always knows what shipped."""
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    first = SHIPMENT.model_copy(update={"shipment_id": "S1", "lines": [ShippedLine(sku="WIDGET", quantity=1)]})
    rest = SHIPMENT.model_copy(
        update={"shipment_id": "S2", "lines": [*first.lines, ShippedLine(sku="GADGET", quantity=1)]}
    )
    async with running_worker(time_env.client, database, task_queue, stripe_api=FakeStripe([])):
        handle = await start(time_env.client, order, task_queue)
        await handle.signal("shipment_dispatched", first)
        # No invoice comes for a part of the order: the shipment is written on its own as the order rests.
        assert await written_shipments(database, order.order_id, until=1) == [("S1", None)]
        await handle.signal("shipment_dispatched", rest)
        assert (await handle.result()).status == OrderStatus.PAID
        history = await handle.fetch_history()
    ran = activities_run(history)
    assert ran.count("record_shipment") == 1, "only the partial shipment on its own"
    assert ran.index("record_shipment") < ran.index("issue_invoice")
    with transaction(database.engine) as session:
        invoice = session.exec(select(Invoice).where(Invoice.order_id == order.order_id)).one()
    assert await written_shipments(database, order.order_id, until=2) == [
        ("S1", invoice.number),
        ("S2", invoice.number),
    ]


async def written_shipments(database: Database, order_id: str, until: int) -> list[tuple[str, str | None]]:
    """The order's shipments in the database (id, invoice), once there are ``until`` of them."""
    for _ in range(400):
        with transaction(database.engine) as session:
            rows = session.exec(select(Shipment).where(Shipment.order_id == order_id)).all()
            if len(rows) >= until:
                return sorted((row.shipment_id, row.invoice_number) for row in rows)
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {until} shipments written for {order_id}")
