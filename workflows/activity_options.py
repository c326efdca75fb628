"""How every workflow calls its activities: one timeout, one retry policy, business errors never retried."""

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from models.activity_io import ActivityName, ErrorType

T = TypeVar("T")

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[e.value for e in ErrorType],
)


def retry_at_most(attempts: int) -> RetryPolicy:
    """The usual policy, but giving up after ``attempts`` (0: never)."""
    return RetryPolicy(
        maximum_interval=RETRY.maximum_interval,
        maximum_attempts=attempts,
        non_retryable_error_types=RETRY.non_retryable_error_types,
    )


async def call(
    name: ActivityName,
    arg: BaseModel,
    result: type[T] | None,
    summary: str | None = None,
    retry: RetryPolicy = RETRY,
) -> Any:
    return await workflow.execute_activity(
        name.value,
        arg,
        result_type=result,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=retry,
        summary=summary or name.value.replace("_", " "),
    )
