"""SendStatement: a customer's open invoices with their age, by email, once per request."""

from temporalio import workflow

from workflows.calls import SEND_EMAIL

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import EmailKind, EmailSent, SendEmail
    from models.contract import SendStatement
    from models.naming import STATEMENT_WORKFLOW


@workflow.defn(name=STATEMENT_WORKFLOW, failure_exception_types=[ValidationError])
class SendStatementWorkflow:
    @workflow.run
    async def run(self, request: SendStatement) -> EmailSent:
        request_id = request.request_id or workflow.info().workflow_id
        sent: EmailSent = await SEND_EMAIL(
            SendEmail(
                key=f"statement:{request.customer_id}:{request_id}",
                order_id=None,
                customer_id=request.customer_id,
                kind=EmailKind.STATEMENT,
                to=str(request.to) if request.to else None,
                note=f"requested by {request.by}",
            ),
            summary=f"statement for {request.customer_id}",
        )
        return sent
