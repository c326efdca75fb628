"""What every activity shares: a logger bound to the order, workflow and activity, and typed failures."""

from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activity_io import ErrorType


def log(order_id: str | None = None, **extra: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("o2c.activity")
    if not activity.in_activity():  # the outbox called from a web process (the customer portal)
        return logger.bind(order_id=order_id, **extra)
    info = activity.info()
    return logger.bind(
        order_id=order_id,
        workflow_id=info.workflow_id,
        activity=info.activity_type,
        attempt=info.attempt,
        **extra,
    )


def business_error(kind: ErrorType, message: str, **details: Any) -> ApplicationError:
    """A failure retrying cannot fix; the workflow decides what happens next."""
    return ApplicationError(message, details or None, type=kind.value, non_retryable=True)
