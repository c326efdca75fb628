"""CustomerMasterChange: one change finance makes to a customer's master data, made once and told once.

A short workflow rather than a direct database write, so the change and the email to accounts
receivable both happen exactly once even when a worker dies between them; it also leaves every change
in the Temporal UI under ``customer-{id}-change-{change id}``.
"""

from temporalio import workflow

from workflows.calls import CHANGE_CUSTOMER, SEND_EMAIL

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import ChangeCustomerRequest, EmailKind, SendEmail
    from models.contract import ChangeCustomer, CustomerChanged
    from models.naming import CUSTOMER_CHANGE_WORKFLOW


@workflow.defn(name=CUSTOMER_CHANGE_WORKFLOW, failure_exception_types=[ValidationError])
class CustomerMasterChange:
    @workflow.run
    async def run(self, change: ChangeCustomer) -> CustomerChanged:
        change_id = change.change_id or workflow.info().workflow_id
        result: CustomerChanged = await CHANGE_CUSTOMER(
            ChangeCustomerRequest(change=change, change_id=change_id),
            summary=f"change customer {change.customer_id}",
        )
        if not result.billing_changed:
            return result
        changes = "\n".join(f"{c.field}: {c.old if c.old is not None else '(none)'} -> {c.new}" for c in result.changes)
        await SEND_EMAIL(
            SendEmail(
                key=f"customer:{change.customer_id}:{change_id}:billing",
                order_id=None,
                customer_id=change.customer_id,
                kind=EmailKind.CUSTOMER_BILLING_CHANGED,
                note=f"Changed by {change.by}: {change.reason}\n\n{changes}",
            ),
            summary="tell accounts receivable",
        )
        return result.model_copy(update={"accounts_receivable_notified": True})
