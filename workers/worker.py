"""The o2c worker: the OrderToCash workflow and its activities on task queue ``o2c``."""

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.registry import build_activities
from models.naming import TASK_QUEUE
from models.policy import OrderPolicy
from o2c.platform.config import Settings, get_settings
from o2c.platform.db import make_engine, migrate
from o2c.platform.policies import load_order_policy
from o2c.platform.temporal import metrics_runtime, with_runtime
from workflows.cash_application import CashApplicationWorkflow
from workflows.chargebacks import ChargebackWorkflow
from workflows.customer_master import CustomerMasterChange
from workflows.order import OrderToCash
from workflows.refunds import RefundPaidInvoice, StripeRefundWorkflow
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
    CashApplicationWorkflow,
]

# Pure, deterministic modules shared with activities: imported once, not per workflow run.
PASSTHROUGH = ("models", "pydantic", "pydantic_core", "babel", "email_validator")


def sandbox() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """The sandbox re-imports a workflow's module for every run it starts or replays and enters itself for
    every payload the worker encodes or decodes: about half the worker's CPU on the happy path. It checks
    at run time what the test suite and the replay tests (always sandboxed) have checked before release,
    so a production worker may go without it (``O2C_WORKFLOW_SANDBOX=false``; README: Performance)."""
    return sandbox() if sandboxed else UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    activities: list[Callable[..., Any]],
    executor: concurrent.futures.ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
    settings: Settings | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> Worker:
    """Slots and cache (README: Performance): activities are mostly short database writes and HTTP
    calls, so ``worker_activity_slots`` threads keep the database busy without queuing on the GIL; the
    cache holds ``worker_cache_size`` workflows, enough for the orders in flight, while idle orders are
    evicted and replayed when their timer fires (that bounds memory with 10,000 orders open). The extras are
    the bench's reference workflow and activity (``o2c.devtools.bench_worker``), never production's."""
    settings = settings or Settings()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[*activities, *extra_activities],
        activity_executor=executor,
        workflow_runner=workflow_runner(settings.workflow_sandbox),
        max_concurrent_activities=settings.worker_activity_slots,
        max_concurrent_local_activities=settings.worker_activity_slots,
        max_concurrent_workflow_tasks=settings.worker_workflow_slots,
        max_cached_workflows=settings.worker_cache_size,
    )


async def run_worker(
    client: Client,
    settings: Settings,
    policy: OrderPolicy | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> None:
    if settings.metrics_port is not None:
        address = f"{settings.bind_host}:{settings.metrics_port}"
        client = await with_runtime(client, metrics_runtime(address))
        structlog.get_logger("o2c.worker").info("SDK metrics", url=f"http://{address}/metrics")
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    activities = build_activities(settings, engine, policy or load_order_policy(settings), client=client)
    if not settings.resolved_payload_keys():
        structlog.get_logger("o2c.worker").warning("payloads are NOT encrypted: set O2C_PAYLOAD_KEYS (README)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.worker_activity_slots) as executor:
        worker = build_worker(
            client,
            activities,
            executor,
            settings=settings,
            extra_workflows=extra_workflows,
            extra_activities=extra_activities,
        )
        structlog.get_logger("o2c.worker").info(
            "worker started", task_queue=TASK_QUEUE, pid=os.getpid(), sandboxed=settings.workflow_sandbox
        )
        try:
            await worker.run()
        except asyncio.CancelledError:
            pass
        finally:
            engine.dispose()


def run_worker_processes(processes: int, command: str = "worker") -> int:
    """``o2c worker --processes N``: N worker processes on one machine (the Python SDK runs workflow code
    on one core per process), each running ``o2c <command>``. Signals are passed on; when one child fails
    the others are stopped. With ``O2C_METRICS_PORT`` P, child i serves its metrics on P + i."""
    argv = [sys.executable, "-m", "o2c.cli", command, "--processes", "1"]
    children = [subprocess.Popen(argv, env=os.environ | _own_metrics_port(i)) for i in range(processes)]

    def forward(signum: int, _: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while any(child.poll() is None for child in children):
        if any(child.returncode for child in children if child.poll() is not None):
            forward(signal.SIGTERM, None)
        time.sleep(0.5)
    return next((child.returncode for child in children if child.returncode), 0)


def _own_metrics_port(index: int) -> dict[str, str]:
    """Child ``index``'s metrics port, O2C_METRICS_PORT + index (nothing when metrics are off)."""
    base = get_settings().metrics_port
    return {} if base is None else {"O2C_METRICS_PORT": str(base + index)}
