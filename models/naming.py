"""Ids and task queues are made here, never spelt as literals elsewhere."""

TASK_QUEUE = "o2c"
WORKFLOW_NAME = "OrderToCash"
WORKFLOW_ID_PREFIX = "order-"


def workflow_id(order_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def order_id_of(workflow_id_: str) -> str:
    if not workflow_id_.startswith(WORKFLOW_ID_PREFIX):
        raise ValueError(f"{workflow_id_!r} is not an order workflow id")
    return workflow_id_[len(WORKFLOW_ID_PREFIX) :]


CUSTOMER_CHANGE_WORKFLOW = "CustomerMasterChange"


def customer_change_id(customer_id: str, change_id: str) -> str:
    return f"customer-{customer_id}-change-{change_id}"


RESEND_WORKFLOW = "ResendDocument"


def resend_id(number: str, request_id: str) -> str:
    return f"resend-{number}-{request_id}"


STATEMENT_WORKFLOW = "SendStatement"


def statement_id(customer_id: str, request_id: str) -> str:
    return f"statement-{customer_id}-{request_id}"


REFUND_WORKFLOW = "RefundPaidInvoice"


def refund_id(invoice_number: str, request_id: str) -> str:
    return f"refund-{invoice_number}-{request_id}"


CHARGEBACK_WORKFLOW = "Chargeback"


def chargeback_id(dispute_id: str) -> str:
    return f"chargeback-{dispute_id}"


STRIPE_REFUND_WORKFLOW = "StripeRefund"


def stripe_refund_id(refund_id_: str, status: str) -> str:
    return f"stripe-refund-{refund_id_}-{status}"


CASH_APPLICATION_WORKFLOW = "CashApplication"


def cash_application_id(statement_key: str | None, request_id: str) -> str:
    """One run per imported statement; a rematch of the exception queue per request."""
    return f"cash-statement-{statement_key}" if statement_key else f"cash-rematch-{request_id}"
