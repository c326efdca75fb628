"""Runs the real worker (real activities on a test database) against a test Temporal environment."""

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from activities.registry import build_activities
from models.contract import PlaceOrder, StatusView
from models.naming import workflow_id
from models.policy import OrderPolicy
from o2c.platform.config import Settings
from o2c.platform.temporal import DATA_CONVERTER
from tests.support import Database, RecordingSendGrid
from workers.worker import WORKFLOWS, build_worker, sandbox
from workflows.order import OrderToCash


@asynccontextmanager
async def running_worker(
    client: Client,
    db: Database,
    task_queue: str,
    mail: Any = None,
    stripe_api: Any = None,
    policy: OrderPolicy | None = None,
    settings: Settings | None = None,
    sandboxed: bool = True,
) -> AsyncIterator[RecordingSendGrid]:
    mail = mail if mail is not None else RecordingSendGrid()
    settings = settings or Settings(database_url=db.url)
    activities = build_activities(
        settings, db.engine, policy or OrderPolicy(), sendgrid=mail, stripe_api=stripe_api, client=client
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        # Workflows run in the sandbox under test whatever the environment says, unless a test asks.
        runner = settings.model_copy(update={"workflow_sandbox": sandboxed})
        async with build_worker(client, activities, executor, task_queue=task_queue, settings=runner):
            yield mail


def sandboxed_replayer() -> Replayer:
    """Replays histories as the release gate does: every workflow, in the sandbox, unencrypted payloads."""
    return Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=sandbox())


async def start(client: Client, order: PlaceOrder, task_queue: str) -> WorkflowHandle[OrderToCash, Any]:
    return await client.start_workflow(OrderToCash.run, order, id=workflow_id(order.order_id), task_queue=task_queue)


async def status(handle: WorkflowHandle[Any, Any]) -> StatusView:
    return await handle.query("status", result_type=StatusView)


async def eventually(handle: WorkflowHandle[Any, Any], check: Callable[[StatusView], bool], what: str) -> StatusView:
    """Polls the status query until ``check`` holds (state reached by the worker, not by a timer)."""
    last: StatusView | None = None
    for _ in range(400):
        last = await status(handle)
        if check(last):
            return last
        await asyncio.sleep(0.025)
    raise AssertionError(f"never reached: {what}; last status {last.model_dump_json(indent=1) if last else None}")


HISTORIES = Path(__file__).with_name("histories")


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With O2C_RECORD_HISTORIES=1, saves the finished run's history for the replay test."""
    if os.environ.get("O2C_RECORD_HISTORIES") != "1":
        return
    HISTORIES.mkdir(exist_ok=True)
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
