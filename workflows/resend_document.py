"""ResendDocument: finance sends an issued invoice or credit note again, on purpose, exactly once per request.

The archived document goes out byte for byte as it was issued (``billing_documents``); the email key
includes the request id, so a resend that is retried or started twice sends one email.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import ActivityName, EmailKind, EmailSent, ErrorType, SendEmail
    from models.contract import ResendDocument
    from models.naming import RESEND_WORKFLOW

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), non_retryable_error_types=[e.value for e in ErrorType])


@workflow.defn(name=RESEND_WORKFLOW, failure_exception_types=[ValidationError])
class ResendDocumentWorkflow:
    @workflow.run
    async def run(self, request: ResendDocument) -> EmailSent:
        request_id = request.request_id or workflow.info().workflow_id
        sent: EmailSent = await workflow.execute_activity(
            ActivityName.SEND_EMAIL.value,
            SendEmail(
                key=f"resend:{request.number}:{request_id}",
                order_id=None,
                kind=EmailKind.INVOICE_COPY,
                document_number=request.number,
                to=str(request.to) if request.to else None,
                note=f"sent again by {request.by}",
            ),
            result_type=EmailSent,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
            summary=f"send {request.number} again",
        )
        return sent
