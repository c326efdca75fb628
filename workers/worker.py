"""The o2c worker: the OrderToCash workflow and its activities on task queue ``o2c``."""

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from models.naming import TASK_QUEUE
from models.policy import OrderPolicy
from o2c.config import Settings
from o2c.db import make_engine, migrate
from o2c.policies import load_order_policy
from workflows.aftersale import ChargebackWorkflow, RefundPaidInvoice, StripeRefundWorkflow
from workflows.customer_master import CustomerMasterChange
from workflows.order_to_cash import OrderToCash
from workflows.resend_document import ResendDocumentWorkflow
from workflows.statement import SendStatementWorkflow

WORKFLOWS = [
    OrderToCash,
    CustomerMasterChange,
    ResendDocumentWorkflow,
    SendStatementWorkflow,
    RefundPaidInvoice,
    ChargebackWorkflow,
    StripeRefundWorkflow,
]

# Pure, deterministic modules shared with activities: imported once, not per workflow run.
PASSTHROUGH = ("models", "pydantic", "pydantic_core", "babel", "email_validator")


def sandbox() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def build_worker(
    client: Client,
    activities: list[Callable[..., Any]],
    executor: concurrent.futures.ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        activity_executor=executor,
        workflow_runner=sandbox(),
        max_concurrent_activities=32,
        max_cached_workflows=2000,
    )


async def run_worker(client: Client, settings: Settings, policy: OrderPolicy | None = None) -> None:
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    activities = build_activities(settings, engine, policy or load_order_policy(settings))
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(client, activities, executor)
        structlog.get_logger("o2c.worker").info("worker started", task_queue=TASK_QUEUE)
        try:
            await worker.run()
        except asyncio.CancelledError:
            pass
        finally:
            engine.dispose()
