"""The floor our orders are measured against (``o2c bench orders``): a workflow that runs N no-op
activities one after the other, on the same worker, server and task queue as the orders."""

from datetime import timedelta

from temporalio import activity, workflow

BARE_WORKFLOW = "BenchBareWorkflow"
NOOP_ACTIVITY = "bench_noop"


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
