"""ResendDocument: finance sends an issued invoice or credit note again, on purpose, exactly once per request.

The archived document goes out byte for byte as it was issued (``billing_documents``); the email key
includes the request id, so a resend that is retried or started twice sends one email.
"""

from temporalio import workflow

from workflows.calls import SEND_EMAIL

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import EmailKind, EmailSent, SendEmail
    from models.contract import ResendDocument
    from models.naming import RESEND_WORKFLOW


@workflow.defn(name=RESEND_WORKFLOW, failure_exception_types=[ValidationError])
class ResendDocumentWorkflow:
    @workflow.run
    async def run(self, request: ResendDocument) -> EmailSent:
        request_id = request.request_id or workflow.info().workflow_id
        sent: EmailSent = await SEND_EMAIL(
            SendEmail(
                key=f"resend:{request.number}:{request_id}",
                order_id=None,
                kind=EmailKind.INVOICE_COPY,
                document_number=request.number,
                to=str(request.to) if request.to else None,
                note=f"sent again by {request.by}",
            ),
            summary=f"send {request.number} again",
        )
        return sent
