"""SendStatement: a customer's open invoices with their age, by email, once per request."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import ActivityName, EmailKind, EmailSent, ErrorType, SendEmail
    from models.contract import SendStatement
    from models.naming import STATEMENT_WORKFLOW

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), non_retryable_error_types=[e.value for e in ErrorType])


@workflow.defn(name=STATEMENT_WORKFLOW, failure_exception_types=[ValidationError])
class SendStatementWorkflow:
    @workflow.run
    async def run(self, request: SendStatement) -> EmailSent:
        request_id = request.request_id or workflow.info().workflow_id
        sent: EmailSent = await workflow.execute_activity(
            ActivityName.SEND_EMAIL.value,
            SendEmail(
                key=f"statement:{request.customer_id}:{request_id}",
                order_id=None,
                customer_id=request.customer_id,
                kind=EmailKind.STATEMENT,
                to=str(request.to) if request.to else None,
                note=f"requested by {request.by}",
            ),
            result_type=EmailSent,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
            summary=f"statement for {request.customer_id}",
        )
        return sent
