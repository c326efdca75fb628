"""Every activity a workflow calls, typed: ``await RECORD_ORDER(RecordOrder(...))`` returns an ``OrderRecorded``.

One catalogue holds each activity's name, its result type and how it runs, so a workflow neither repeats a
name nor casts a result. Quick writes to our own database run as local activities (one marker event instead
of three events and a workflow task each); calls to Stripe and SendGrid stay normal activities: they can
be slow, and their retries belong to the server's schedule, visible in the UI. Business errors are never
retried. A test checks that every name here is an activity the worker registers.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from models.activity_io import (
        AdjustBalance,
        ApplicationsDelivered,
        ApplyPayment,
        BalanceChanged,
        ChangeCustomerRequest,
        ChargebackRecorded,
        ChargeCard,
        ChargeOutcome,
        CloseChargeback,
        CloseOrder,
        CreditAssessment,
        CreditPaidInvoice,
        CreditRecheck,
        DeliverApplications,
        DunningStepRun,
        EmailSent,
        ErrorType,
        InvoiceIssued,
        IssueCharge,
        IssueInvoice,
        LateFeeRaised,
        MatchReceipts,
        OrderEvent,
        OrderRecorded,
        PaidInvoiceCredited,
        QueuePayment,
        RaiseLateFee,
        ReceiptsMatched,
        RecordDelivery,
        RecordOrder,
        RecordShipment,
        RefundCard,
        RefundDone,
        SendEmail,
        StripeRefundRecorded,
        StripeRefundSeen,
    )
    from models.contract import ChargebackOpened, CustomerChanged

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R")

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), non_retryable_error_types=[e.value for e in ErrorType])


def retry_at_most(attempts: int) -> RetryPolicy:
    """The usual policy, but giving up after ``attempts`` (0: never)."""
    return RetryPolicy(
        maximum_interval=RETRY.maximum_interval,
        maximum_attempts=attempts,
        non_retryable_error_types=RETRY.non_retryable_error_types,
    )


@dataclass(frozen=True)
class Activity(Generic[A, R]):
    """An activity as a workflow sees it: call it with its input, get its declared result."""

    name: str
    result: type[R] | None
    local: bool = False
    timeout: timedelta = ACTIVITY_TIMEOUT
    heartbeat: timedelta | None = None

    async def __call__(self, arg: A, summary: str | None = None, retry: RetryPolicy = RETRY) -> R:
        options: dict[str, Any] = {
            "result_type": self.result,
            "start_to_close_timeout": self.timeout,
            "retry_policy": retry,
            "summary": summary or self.name.replace("_", " "),
        }
        if self.local:
            return cast(R, await workflow.execute_local_activity(self.name, arg, **options))
        return cast(R, await workflow.execute_activity(self.name, arg, heartbeat_timeout=self.heartbeat, **options))


# Orders, credit, fulfillment (local: our own database)
RECORD_ORDER = Activity[RecordOrder, OrderRecorded]("record_order", OrderRecorded, local=True)
RECHECK_CREDIT = Activity[CreditRecheck, CreditAssessment]("recheck_credit", CreditAssessment, local=True)
RECORD_EVENT = Activity[OrderEvent, None]("record_order_event", None, local=True)
RECORD_SHIPMENT = Activity[RecordShipment, None]("record_shipment", None, local=True)
RECORD_DELIVERY = Activity[RecordDelivery, None]("record_delivery", None, local=True)
CLOSE_ORDER = Activity[CloseOrder, None]("close_order", None, local=True)
CHANGE_CUSTOMER = Activity[ChangeCustomerRequest, CustomerChanged]("change_customer", CustomerChanged)

# Invoicing and collections
ISSUE_INVOICE = Activity[IssueInvoice, InvoiceIssued]("issue_invoice", InvoiceIssued, local=True)
ISSUE_CHARGE = Activity[IssueCharge, InvoiceIssued]("issue_charge", InvoiceIssued, local=True)
RAISE_LATE_FEE = Activity[RaiseLateFee, LateFeeRaised]("raise_late_fee", LateFeeRaised, local=True)
ADJUST_BALANCE = Activity[AdjustBalance, BalanceChanged]("adjust_balance", BalanceChanged, local=True)
DUNNING_STEP = Activity[DunningStepRun, None]("run_dunning_step", None)
SEND_EMAIL = Activity[SendEmail, EmailSent]("send_email", EmailSent)

# Payments and cash application
CHARGE_CARD = Activity[ChargeCard, ChargeOutcome]("charge_card", ChargeOutcome)
APPLY_PAYMENT = Activity[ApplyPayment, BalanceChanged]("apply_payment", BalanceChanged, local=True)
QUEUE_PAYMENT = Activity[QueuePayment, None]("queue_payment", None, local=True)
# Whole statements at a time: a long timeout, with heartbeats so that a lost worker is noticed in a minute.
MATCH_RECEIPTS = Activity[MatchReceipts, ReceiptsMatched](
    "match_receipts", ReceiptsMatched, timeout=timedelta(minutes=30), heartbeat=timedelta(minutes=1)
)
DELIVER_APPLICATIONS = Activity[DeliverApplications, ApplicationsDelivered](
    "deliver_applications", ApplicationsDelivered, timeout=timedelta(minutes=30), heartbeat=timedelta(minutes=1)
)

# After the sale: refunds and chargebacks
CREDIT_PAID_INVOICE = Activity[CreditPaidInvoice, PaidInvoiceCredited]("credit_paid_invoice", PaidInvoiceCredited)
REFUND_CARD = Activity[RefundCard, RefundDone]("refund_card", RefundDone)
OPEN_CHARGEBACK = Activity[ChargebackOpened, ChargebackRecorded]("open_chargeback", ChargebackRecorded)
CLOSE_CHARGEBACK = Activity[CloseChargeback, ChargebackRecorded]("close_chargeback", ChargebackRecorded)
RECORD_STRIPE_REFUND = Activity[StripeRefundSeen, StripeRefundRecorded]("record_stripe_refund", StripeRefundRecorded)

CATALOGUE: tuple[Activity[Any, Any], ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Activity))
