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


# Quick writes to our own database: run as local activities where a workflow opted in (one marker event
# instead of three events and a workflow task each). Calls to Stripe and SendGrid stay normal activities:
# they can be slow, and their retries belong to the server's schedule, visible in the UI.
LOCAL = frozenset(
    {
        ActivityName.RECORD_ORDER,
        ActivityName.CHECK_CREDIT,
        ActivityName.RECHECK_CREDIT,
        ActivityName.RECORD_EVENT,
        ActivityName.RECORD_SHIPMENT,
        ActivityName.RECORD_DELIVERY,
        ActivityName.ISSUE_INVOICE,
        ActivityName.ISSUE_CHARGE,
        ActivityName.RAISE_LATE_FEE,
        ActivityName.APPLY_PAYMENT,
        ActivityName.QUEUE_PAYMENT,
        ActivityName.ADJUST_BALANCE,
        ActivityName.CLOSE_ORDER,
    }
)


async def call(
    name: ActivityName,
    arg: BaseModel,
    result: type[T] | None,
    summary: str | None = None,
    retry: RetryPolicy = RETRY,
    local: bool = False,
) -> Any:
    if local and name in LOCAL:
        return await workflow.execute_local_activity(
            name.value,
            arg,
            result_type=result,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=retry,
            summary=summary or name.value.replace("_", " "),
        )
    return await workflow.execute_activity(
        name.value,
        arg,
        result_type=result,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=retry,
        summary=summary or name.value.replace("_", " "),
    )
