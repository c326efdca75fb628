"""The bench's worker (``o2c bench orders``): production's workflows and activities, plus the floor our
orders are measured against, a workflow that runs N no-op activities one after the other. Both kinds run on
the same worker, server and task queue, so their ratio compares like with like; the production worker
(``workers/worker.py``) never registers the floor."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

from o2c.platform.config import Settings
from o2c.platform.temporal import connect

BARE_WORKFLOW = "BenchBareWorkflow"
NOOP_ACTIVITY = "bench_noop"
COMMAND = "bench-worker"


@activity.defn(name=NOOP_ACTIVITY)
async def noop(step: int) -> int:
    return step


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_activity(NOOP_ACTIVITY, step, start_to_close_timeout=timedelta(seconds=30))
        return activities


def run_bench_worker(settings: Settings, processes: int) -> int:
    """``o2c bench-worker``: what the bench's dev stack starts in place of ``o2c worker``."""
    from workers.worker import run_worker, run_worker_processes

    if processes > 1:
        return run_worker_processes(processes, command=COMMAND)

    async def main() -> None:
        await run_worker(await connect(), settings, extra_workflows=[BareWorkflow], extra_activities=[noop])

    asyncio.run(main())
    return 0
