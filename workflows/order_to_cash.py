"""OrderToCash: one durable workflow per order, from placement to cash applied.

The run method reads as the process: record, credit check, then fulfil and collect until the order is
settled or cancelled, then close. Messages from outside only validate and enqueue; the run loop does the
work, so every side effect happens in one place, in order, through activities.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.activity_options import call, retry_at_most

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from models import search_attributes as sa
    from models.activity_io import (
        ActivityName,
        AdjustBalance,
        AdjustmentKind,
        ApplyPayment,
        BalanceChanged,
        ChargeCard,
        ChargeOutcome,
        CloseOrder,
        CreditAssessment,
        CreditCheck,
        CreditRecheck,
        CreditRecord,
        DisputeRecord,
        DunningStepRun,
        EmailKind,
        ErrorType,
        InvoiceIssued,
        IssueCharge,
        IssueInvoice,
        LateFeeRaised,
        OrderEvent,
        OrderRecorded,
        QueuePayment,
        RaiseLateFee,
        RecordDelivery,
        RecordOrder,
        RecordShipment,
        SendEmail,
    )
    from models.contract import (
        ON_FILE,
        AddCharge,
        ApproveCredit,
        CancelOrder,
        DecisionResult,
        InvoicingPolicy,
        OpenDispute,
        OrderOutcome,
        OrderStatus,
        PaymentChannel,
        PaymentFailed,
        PaymentMethod,
        PaymentReceived,
        PlaceOrder,
        PromiseToPay,
        RejectCredit,
        ResolveDispute,
        ShipmentDelivered,
        ShipmentDispatched,
        Stage,
        StatusView,
        WriteOff,
    )
    from models.money import MoneyError, from_minor
    from models.naming import WORKFLOW_NAME, workflow_id
    from models.policy import DunningAction, DunningStep, OrderPolicy
    from workflows.order_book import DisputeState, OrderBook

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class UnappliedPayment:
    """A payment this order cannot apply (another currency, the order closed): queued for cash application."""

    payment: PaymentReceived
    reason: str


Inbound = (
    ShipmentDispatched
    | ShipmentDelivered
    | PaymentReceived
    | PaymentFailed
    | OpenDispute
    | ResolveDispute
    | WriteOff
    | AddCharge
    | UnappliedPayment
)

# Patches: each names a change to the command sequence made after release (README: changing a workflow).
CREDIT_RECHECK_PATCH = "credit-recheck-before-invoicing"
CANCEL_RECORDED_PATCH = "cancellation-recorded-and-told"
CREDIT_NOTE_EMAIL_PATCH = "credit-notes-emailed"
PROMISE_REPLANS_PATCH = "promise-replans-reminders"
CARD_RETRY_PATCH = "card-soft-declines-retried"
LOCAL_WRITES_PATCH = "database-writes-as-local-activities"
SHIPMENT_WITH_INVOICE_PATCH = "shipment-recorded-with-its-invoice"
CREDIT_WITH_ORDER_PATCH = "credit-checked-with-the-order"
ENGINE = "credit-engine"  # who decides when no person does


class InvalidDecision(ApplicationError):
    """A finance decision refused by the rules; the update caller sees it, a signal leaves it in the timeline."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type=ErrorType.INVALID_DECISION.value, non_retryable=True)


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class OrderToCash:
    @workflow.init
    def __init__(self, order: PlaceOrder) -> None:
        self._book = OrderBook(order=order)
        self._policy = OrderPolicy()
        self._inbox: list[Inbound] = []
        self._credit_answer: ApproveCredit | RejectCredit | None = None
        self._charge_keys: dict[str, str] = {}
        self._steps_done: set[str] = set()
        self._promise_checked: set[date] = set()
        self._waiting_for = "recording the order"
        self._published: dict[str, Any] = {}
        self._fulfillment_alerted = False
        self._prepayments: list[PaymentReceived] = []
        self._applied_payments: set[str] = set()
        self._write_offs = 0
        self._credit_round = 0
        self._cancel_recorded = False
        self._replan = False
        self._card_retries: dict[str, list[datetime]] = {}
        self._pending_debits: dict[str, str] = {}  # PaymentIntent id -> invoice number
        self._local = False
        self._fold = False  # a shipment about to be invoiced is written by the invoice's own activity
        self._placed = False  # the credit check runs in record_order's own transaction
        self._unrecorded: list[RecordShipment] = []

    # -------------------------------------------------------------------------------- the process

    @workflow.run
    async def run(self, order: PlaceOrder) -> OrderOutcome:
        # Decided once, first: an order keeps the way it started (replays of older orders say False). The
        # newest patch is asked first: an order that has it has the older ones too, with one marker for all.
        self._placed = workflow.patched(CREDIT_WITH_ORDER_PATCH)
        self._fold = self._placed or workflow.patched(SHIPMENT_WITH_INVOICE_PATCH)
        self._local = self._fold or workflow.patched(LOCAL_WRITES_PATCH)
        if workflow.info().workflow_id != workflow_id(order.order_id):
            # A second workflow for the same order row would invoice and charge it twice.
            raise ApplicationError(
                f"order {order.order_id} runs as workflow {workflow_id(order.order_id)!r}, "
                f"not {workflow.info().workflow_id!r}: start it under that id",
                type=ErrorType.ORDER_CONFLICT.value,
                non_retryable=True,
            )
        recorded = await self._call(
            ActivityName.RECORD_ORDER,
            RecordOrder(order=order, placed_at=workflow.now(), check_credit=self._placed),
            OrderRecorded,
        )
        self._policy = recorded.policy
        self._book.order_total_minor = recorded.order_total_minor
        self._note("placed", f"{len(order.lines)} line(s), {self._money(recorded.order_total_minor)}")
        if await self._pass_credit_check(recorded.assessment):
            await self._fulfil_and_collect()
        return await self._close()

    async def _pass_credit_check(self, assessment: CreditAssessment | None) -> bool:
        """``assessment``: the check record_order ran with the order (None for orders from before that)."""
        self._book.stage = Stage.CREDIT_CHECK
        self._wait("the credit check")
        if assessment is None:
            assessment = await self._call(
                ActivityName.CHECK_CREDIT, CreditCheck(order_id=self._order_id), CreditAssessment
            )
        self._record_credit(assessment, "order")
        if assessment.decision == "approve":
            return True
        if assessment.decision == "reject":
            await self._reject_order(assessment.reason)
            return False
        answer = await self._hold_for_finance(assessment, "")
        if isinstance(answer, ApproveCredit):
            self._book.credit_decision = f"approved by {answer.by}"
            record = self._finance_decided("approved", answer.by, answer.note or "approved", "order")
            await self._set_status(
                OrderStatus.AWAITING_SHIPMENT, "credit_approved", answer.note, answer.by, credit=record
            )
            return True
        if isinstance(answer, RejectCredit):
            self._book.credit_decision = f"rejected by {answer.by}"
            record = self._finance_decided("rejected", answer.by, answer.reason, "order")
            await self._reject_order(answer.reason, answer.by, credit=record)
            return False
        expired = self._finance_decided("expired", answer.by, answer.reason, "order") if answer.by == ENGINE else None
        await self._cancel_order(answer, credit=expired)
        return False

    async def _hold_for_finance(
        self, assessment: CreditAssessment, round_key: str
    ) -> ApproveCredit | RejectCredit | CancelOrder:
        """Waits for finance's answer; a reminder when it is slow, a cancellation when it never comes."""
        reason = assessment.reason
        self._credit_answer = None
        await self._set_status(OrderStatus.CREDIT_HOLD, "credit_hold", reason, ENGINE, key=round_key)
        await self._email(EmailKind.CREDIT_HOLD, f"credit-hold{round_key}", note=self._hold_note(assessment))
        expires = workflow.now() + self._policy.credit_hold_expiry
        reminder = workflow.now() + self._policy.credit_hold_reminder
        while self._credit_answer is None and self._book.cancelled is None:
            self._wait("finance: approve_credit or reject_credit")
            wake = min(reminder, expires) if reminder < expires else expires
            if await self._sleep_until(
                wake,
                "credit hold reminder" if wake == reminder else "credit hold expiry",
                lambda: self._credit_answer is not None or self._book.cancelled is not None,
            ):
                continue
            if wake == reminder:
                await self._email(EmailKind.CREDIT_HOLD_REMINDER, f"credit-hold-reminder{round_key}", note=reason)
                reminder = expires + timedelta(days=1)
            elif not round_key:
                self._book.cancelled = CancelOrder(by=ENGINE, reason="credit hold expired without a decision")
            else:
                return CancelOrder(by=ENGINE, reason="credit hold expired without a decision")
        if self._credit_answer is not None:
            return self._credit_answer
        assert self._book.cancelled is not None
        return self._book.cancelled

    async def _recheck_credit(self) -> None:
        """Before an invoice extends credit: if the customer's situation changed since the approval, the
        rules run again. A hold waits for finance; a rejection (or an expired hold) withdraws credit:
        what shipped is invoiced due at once and what has not shipped is cancelled."""
        if (
            self._book.fulfillment_closed is not None
            or self._book.order.payment_method is not PaymentMethod.BANK_TRANSFER
            or not self._policy.credit_recheck_before_invoicing
            or not self._since(CREDIT_RECHECK_PATCH)
        ):
            return
        self._credit_round += 1
        assessment = await self._call(
            ActivityName.RECHECK_CREDIT,
            CreditRecheck(order_id=self._order_id, round=self._credit_round),
            CreditAssessment,
            summary="re-check credit before invoicing",
        )
        if assessment.unchanged:
            return
        self._record_credit(assessment, "before_invoicing")
        if assessment.decision == "approve":
            return
        round_key = f":recheck-{self._credit_round}"
        answer: ApproveCredit | RejectCredit | CancelOrder | None = None
        if assessment.decision == "hold":
            answer = await self._hold_for_finance(assessment, round_key)
        if isinstance(answer, ApproveCredit):
            approval = self._finance_decided("approved", answer.by, answer.note or "approved", "before_invoicing")
            await self._set_status(
                OrderStatus.AWAITING_SHIPMENT, "credit_approved", answer.note, answer.by, key=round_key, credit=approval
            )
            return
        record: CreditRecord | None = None
        if answer is None:
            by, reason = ENGINE, assessment.reason
        else:
            by, reason = answer.by, answer.reason
            decision = "rejected" if isinstance(answer, RejectCredit) else "expired"
            record = self._finance_decided(decision, by, reason, "before_invoicing")
        self._book.fulfillment_closed = reason
        await self._set_status(
            OrderStatus.AWAITING_SHIPMENT, "credit_withdrawn", reason, by, key=round_key, credit=record, release=True
        )
        await self._email(EmailKind.ORDER_REST_CANCELLED, f"rest-cancelled{round_key}", note=reason)

    async def _fulfil_and_collect(self) -> None:
        self._book.stage = Stage.FULFILLMENT
        self._book.status = OrderStatus.AWAITING_SHIPMENT
        approved_at = workflow.now()
        await self._publish()
        while True:
            await self._process_inbox()
            if self._book.cancelled is not None:
                # Before this patch a cancellation that arrived alone closed the order silently.
                if not self._cancel_recorded and self._since(CANCEL_RECORDED_PATCH):
                    await self._cancel_order(self._book.cancelled)
                return
            if self._book.settled:
                return
            await self._invoice_what_shipped()
            await self._publish()
            if self._book.settled:
                return
            wake, what, action = self._next_deadline(approved_at)
            self._wait(what)
            woken = lambda: bool(self._inbox) or self._book.cancelled is not None or self._replan  # noqa: E731
            if not await self._sleep_until(wake, what, woken) and action is not None:
                await action()
            self._replan = False

    async def _close(self) -> OrderOutcome:
        await workflow.wait_condition(workflow.all_handlers_finished)
        final = self._book.final_status()
        if self._book.status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            self._book.status = final
        self._book.stage = Stage.CLOSED
        closed_at = workflow.now()
        await self._call(
            ActivityName.CLOSE_ORDER,
            CloseOrder(order_id=self._order_id, status=self._book.status, closed_at=closed_at),
            None,
        )
        self._note("closed", self._book.status.value)
        await self._queue_unapplied()
        self._waiting_for = "nothing: the order is closed"
        await self._publish(flush=True)
        return OrderOutcome(
            order_id=self._order_id, status=self._book.status, totals=self._book.totals(), closed_at=closed_at
        )

    # ---------------------------------------------------------------------------------- the work

    async def _queue_unapplied(self) -> None:
        """Money that reached this order and was not applied goes to the cash-application queue before the
        order ends: paid before an invoice that never came, or arriving while the order closed."""
        status = self._book.status.value
        if self._book.invoices:
            reason = f"the payment arrived as the order closed ({status})"
        else:
            reason = f"the order was {status} before anything was invoiced"
        while self._prepayments or self._inbox:
            item = self._prepayments.pop(0) if self._prepayments else self._inbox.pop(0)
            if isinstance(item, PaymentReceived):
                await self._queue_payment(item, reason)
            elif isinstance(item, UnappliedPayment):
                await self._queue_payment(item.payment, item.reason)

    async def _queue_payment(self, payment: PaymentReceived, reason: str) -> None:
        await self._call(
            ActivityName.QUEUE_PAYMENT,
            QueuePayment(order_id=self._order_id, payment=payment, reason=reason),
            None,
            summary=f"queue payment {payment.payment_id}",
        )
        self._note(
            "payment_queued",
            f"{payment.payment_id}: {payment.amount} {payment.currency} to cash application: {reason}",
            refused=True,
        )

    async def _process_inbox(self) -> None:
        while self._inbox:
            item = self._inbox.pop(0)
            if isinstance(item, ShipmentDispatched):
                await self._take_shipment(item)
            elif isinstance(item, ShipmentDelivered):
                await self._call(
                    ActivityName.RECORD_DELIVERY,
                    RecordDelivery(
                        order_id=self._order_id, shipment_id=item.shipment_id, delivered_at=item.delivered_at
                    ),
                    None,
                )
                self._note("shipment_delivered", item.shipment_id)
            elif isinstance(item, PaymentReceived):
                await self._apply_payment(item)
            elif isinstance(item, OpenDispute):
                await self._record_dispute(item.dispute_id, "open", item.by, item.reason)
            elif isinstance(item, ResolveDispute):
                await self._resolve_dispute(item)
            elif isinstance(item, AddCharge):
                await self._bill_charge(item)
            elif isinstance(item, PaymentFailed):
                await self._debit_failed(item)
            elif isinstance(item, UnappliedPayment):
                await self._queue_payment(item.payment, item.reason)
            elif isinstance(item, WriteOff):
                amount = self._book.minor(item.amount) if item.amount else self._book.amount_due_minor
                self._write_offs += 1
                await self._adjust(
                    AdjustmentKind.WRITE_OFF, amount, item.reason, item.by, f"write-off:{self._write_offs}"
                )
            if self._book.cancelled is not None:
                await self._cancel_order(self._book.cancelled)
                return

    async def _take_shipment(self, shipment: ShipmentDispatched) -> None:
        exception = self._book.shipment_exception(shipment)
        record = RecordShipment(order_id=self._order_id, shipment=shipment, exception=exception)
        if self._fold and exception is None:
            # Written by the invoice that bills it, in the same transaction, or before any other step.
            self._unrecorded.append(record)
        else:
            await self._call(ActivityName.RECORD_SHIPMENT, record, None)
        if exception is not None:
            self._note("shipment_exception", f"{shipment.shipment_id}: {exception}", refused=True)
            await self._email(
                EmailKind.SHIPMENT_EXCEPTION, f"shipment-exception:{shipment.shipment_id}", note=exception
            )
            return
        self._book.accept_shipment(shipment)
        self._note("shipment_dispatched", f"{shipment.shipment_id} via {shipment.carrier} {shipment.tracking_number}")

    async def _invoice_what_shipped(self) -> None:
        if not self._book.uninvoiced_shipments:
            return
        per_shipment = self._book.order.invoicing is InvoicingPolicy.PER_SHIPMENT
        if not per_shipment and not self._book.fully_shipped:
            return
        await self._recheck_credit()
        self._book.stage = Stage.COLLECTION if self._book.fully_shipped else Stage.FULFILLMENT
        batches = (
            [[s] for s in self._book.uninvoiced_shipments] if per_shipment else [list(self._book.uninvoiced_shipments)]
        )
        for shipment_ids in batches:
            key = f"shipment:{shipment_ids[0]}" if per_shipment else "order"
            issued = await self._call(
                ActivityName.ISSUE_INVOICE,
                IssueInvoice(
                    order_id=self._order_id,
                    invoice_key=key,
                    shipment_ids=shipment_ids,
                    issued_on=workflow.now().date(),
                    due_now=self._book.fulfillment_closed is not None,
                    record_shipments=self._take_unrecorded(),
                ),
                InvoiceIssued,
                summary=f"invoice {', '.join(shipment_ids)}",
            )
            self._book.add_invoice(issued, shipment_ids)
            await self._send_invoice(issued)
        while self._prepayments:
            await self._apply_payment(self._prepayments.pop(0))

    async def _send_invoice(self, issued: InvoiceIssued) -> None:
        """A new invoice goes to the customer with its PDF; a card on file is charged for it."""
        self._note("invoiced", f"{issued.number}: {self._money(issued.total_minor)} due {issued.due_date}")
        await self._email(EmailKind.INVOICE, f"invoice:{issued.number}", invoice_number=issued.number)
        if self._book.order.payment_method in ON_FILE:
            await self._charge(issued)

    async def _bill_charge(self, command: AddCharge) -> None:
        issued = await self._call(
            ActivityName.ISSUE_CHARGE,
            IssueCharge(
                order_id=self._order_id,
                charge_key=f"charge:{command.charge_id}",
                description=command.description,
                amount_minor=self._book.minor(command.amount),
                tax_rate_percent=str(command.tax_rate_percent),
                reason=command.reason,
                actor=command.by,
                issued_on=workflow.now().date(),
            ),
            InvoiceIssued,
            summary=f"invoice charge {command.charge_id}",
        )
        self._book.add_invoice(issued, [])
        await self._send_invoice(issued)

    async def _charge(self, invoice: InvoiceIssued, attempt: int = 0) -> None:
        """Charges the card on file for what is open on the invoice; each attempt has its own key, minted
        once. A soft decline is retried on the policy's schedule; a hard one (or the last retry) asks the
        customer for another way to pay, and the invoice goes on through dunning like any other."""
        slot = invoice.number if attempt == 0 else f"{invoice.number}:{attempt}"
        key = self._charge_keys.setdefault(slot, str(workflow.uuid4()))
        amount = self._book.invoices[invoice.number].open_minor if attempt else invoice.total_minor
        outcome = await self._call(
            ActivityName.CHARGE_CARD,
            ChargeCard(
                order_id=self._order_id,
                invoice_number=invoice.number,
                amount_minor=amount,
                currency=self._book.currency,
                idempotency_key=key,
            ),
            ChargeOutcome,
            summary=f"charge card for {invoice.number}" + (f" (retry {attempt})" if attempt else ""),
        )
        if outcome.status == "processing":
            # A bank debit settles in days: Stripe's webhook brings the payment, or the failure.
            self._pending_debits[outcome.payment_id] = invoice.number
            self._note("debit_processing", f"{outcome.payment_id}: {self._money(amount)} for {invoice.number}")
            return
        if outcome.status == "succeeded":
            # The webhook's copy of it is then a duplicate.
            self._book.payments[outcome.payment_id] = (from_minor(amount, self._book.currency), self._book.currency)
            await self._apply_payment(
                PaymentReceived(
                    payment_id=outcome.payment_id,
                    amount=from_minor(amount, self._book.currency),
                    currency=self._book.currency,
                    method=PaymentChannel.CARD,
                    received_at=outcome.received_at,
                    reference=invoice.number,
                )
            )
            return
        code = outcome.decline_code or "declined"
        self._note("card_declined", f"{code} ({outcome.decline_kind or 'unclassified'} decline)", refused=True)
        retry_key = f":{attempt}" if attempt else ""
        if attempt == 0 and outcome.decline_kind == "soft" and self._since(CARD_RETRY_PATCH):
            now = workflow.now()
            self._card_retries[invoice.number] = [now + timedelta(days=d) for d in self._policy.card_retry_days]
        retries = self._card_retries.get(invoice.number, [])
        if outcome.decline_kind == "soft" and retries:
            note = f"{code}; we will try the card again on {retries[0].date()}"
        elif attempt or outcome.decline_kind:
            self._card_retries.pop(invoice.number, None)
            note = f"{code}; we will not charge this card again for this invoice: please pay another way"
        else:
            note = outcome.decline_code or "the card was declined"
        await self._email(
            EmailKind.CARD_DECLINED,
            f"card-declined:{invoice.number}{retry_key}",
            invoice_number=invoice.number,
            note=note,
        )

    async def _debit_failed(self, failure: PaymentFailed) -> None:
        number = self._pending_debits.pop(failure.payment_id, None)
        if number is None:  # the same failure reported twice before the first was handled
            return
        await self._email(
            EmailKind.CARD_DECLINED,
            f"debit-failed:{failure.payment_id}",
            invoice_number=number,
            note=f"the direct debit was returned ({failure.code or 'declined'}); please pay another way",
        )

    async def _retry_card(self, number: str) -> None:
        retries = self._card_retries.get(number, [])
        if retries:
            retries.pop(0)
        invoice = self._book.invoices[number]
        if invoice.open_minor == 0 or self._book.open_disputes:
            self._card_retries.pop(number, None)
            return
        attempts = self._policy.card_retry_days
        await self._charge(invoice.issued, attempt=len(attempts) - len(retries))

    async def _apply_payment(self, payment: PaymentReceived) -> None:
        if payment.payment_id in self._applied_payments:
            return  # the card charge and Stripe's webhook both report the same PaymentIntent
        if not self._book.invoices:
            self._prepayments.append(payment)  # applied as soon as there is an invoice to apply it to
            return
        change = await self._call(
            ActivityName.APPLY_PAYMENT,
            ApplyPayment(order_id=self._order_id, payment=payment),
            BalanceChanged,
            summary=f"apply payment {payment.payment_id}",
        )
        if change.refused:  # the same id on another order's payment: a person must look at it
            self._refuse("payment_received", change.refused)
            return
        self._applied_payments.add(payment.payment_id)
        self._book.apply(change, "payment")
        self._note("payment_applied", f"{payment.payment_id}: {payment.amount} {payment.currency}")
        if self._book.amount_due_minor == 0:
            self._book.promise = None

    async def _record_dispute(self, dispute_id: str, status: str, by: str, reason: str) -> None:
        dispute = self._book.disputes[dispute_id]
        await self._call(
            ActivityName.RECORD_EVENT,
            OrderEvent(
                order_id=self._order_id,
                event=f"dispute_{status}",
                detail=reason,
                actor=by,
                dedupe_key=f"dispute:{dispute_id}:{status}",
                dispute=DisputeRecord(
                    dispute_id=dispute_id,
                    amount_minor=dispute.amount_minor,
                    reason=dispute.reason,
                    status=status,
                    by=by,
                ),
            ),
            None,
        )

    async def _resolve_dispute(self, command: ResolveDispute) -> None:
        dispute = self._book.disputes[command.dispute_id]
        amount = self._book.minor(command.amount) if command.amount else dispute.amount_minor
        if command.outcome.value in (AdjustmentKind.CREDIT_NOTE.value, AdjustmentKind.WRITE_OFF.value):
            kind = AdjustmentKind(command.outcome.value)
            await self._adjust(
                kind,
                amount,
                f"dispute {dispute.dispute_id}: {dispute.reason}",
                command.by,
                f"dispute:{dispute.dispute_id}",
            )
        await self._record_dispute(dispute.dispute_id, command.outcome.value, command.by, command.note)

    async def _adjust(self, kind: AdjustmentKind, amount_minor: int, reason: str, by: str, key: str) -> None:
        change = await self._call(
            ActivityName.ADJUST_BALANCE,
            AdjustBalance(
                order_id=self._order_id,
                kind=kind,
                amount_minor=amount_minor,
                reason=reason,
                actor=by,
                dedupe_key=f"{self._order_id}:{key}",
                issued_on=workflow.now().date(),
            ),
            BalanceChanged,
        )
        self._book.apply(change, kind.value)
        self._note(kind.value, f"{self._money(amount_minor - change.unapplied_minor)} by {by}: {reason}")
        if change.documents and self._since(CREDIT_NOTE_EMAIL_PATCH):
            for number in change.documents:
                self._note("credit_note_issued", number)
                await self._email(
                    EmailKind.CREDIT_NOTE,
                    f"credit-note:{number}",
                    invoice_number=change.allocations[change.documents.index(number)].invoice_number,
                    document_number=number,
                    note=reason,
                )

    async def _cancel_order(self, command: CancelOrder, credit: CreditRecord | None = None) -> None:
        self._cancel_recorded = True
        await self._set_status(OrderStatus.CANCELLED, "cancelled", command.reason, command.by, credit=credit)
        await self._email(EmailKind.ORDER_CANCELLED, "cancelled", note=command.reason)

    async def _reject_order(self, reason: str, by: str = ENGINE, credit: CreditRecord | None = None) -> None:
        await self._set_status(OrderStatus.REJECTED, "credit_rejected", reason, by, credit=credit)
        await self._email(EmailKind.ORDER_REJECTED, "rejected", note=reason)

    # ------------------------------------------------------------------------------------ timers

    def _next_deadline(self, approved_at: datetime) -> tuple[datetime | None, str, Callable[[], Any] | None]:
        """The next thing that happens by itself: a dunning step, a promise falling due, a late shipment."""
        if not self._book.anything_shipped and not self._fulfillment_alerted:
            return approved_at + self._policy.fulfillment_alert, "the first shipment", self._alert_fulfillment
        if self._book.open_disputes:
            return None, "finance: resolve_dispute (dunning paused)", None
        dunning = self._next_dunning()
        retry = min(
            ((times[0], number) for number, times in self._card_retries.items() if times),
            default=None,
        )
        if retry is not None and (dunning[0] is None or retry[0] <= dunning[0]):
            at, number = retry
            return at, f"card retry for {number} on {at.date()}", lambda: self._retry_card(number)
        return dunning

    def _next_dunning(self) -> tuple[datetime | None, str, Callable[[], Any] | None]:
        invoice = self._book.oldest_open_invoice()
        if invoice is None:
            return None, "shipments (shipment_dispatched)", None
        promise = self._book.promise
        if promise is not None and promise.promised_date not in self._promise_checked:
            check_on = promise.promised_date + timedelta(days=self._policy.dunning.promise_grace_days)
            return _at(check_on), f"payment promised for {promise.promised_date}", self._check_promise
        for step in self._policy.dunning.steps:
            if f"{invoice.number}:{step.name}" not in self._steps_done:
                on = invoice.issued.due_date + timedelta(days=step.offset_days)
                if promise is not None and on <= promise.promised_date:
                    continue
                return (
                    _at(on),
                    f"payment of {invoice.number} (next: {step.name} reminder on {on})",
                    lambda s=step, n=invoice.number: self._dunning_step(n, s),
                )
        return None, f"payment of {invoice.number} or finance: write_off (dunning finished)", None

    async def _dunning_step(self, invoice_number: str, step: DunningStep) -> None:
        invoice = self._book.invoices[invoice_number]
        self._steps_done.add(f"{invoice_number}:{step.name}")
        if invoice.open_minor == 0:
            return
        await self._call(
            ActivityName.DUNNING_STEP,
            DunningStepRun(
                order_id=self._order_id,
                invoice_number=invoice_number,
                step_name=step.name,
                level=step.level,
                template=step.template,
                escalate=DunningAction.ESCALATE in step.actions,
                amount_due_minor=invoice.open_minor,
                due_date=invoice.issued.due_date,
                remind=DunningAction.REMIND in step.actions,
                block_credit=DunningAction.BLOCK_CREDIT in step.actions,
            ),
            None,
            summary=f"dunning {step.name} for {invoice_number}",
        )
        self._book.dunning_level = max(self._book.dunning_level, step.level)
        self._note(
            "dunning",
            f"{step.name} (level {step.level}) for {invoice_number}: {self._money(invoice.open_minor)}",
        )
        if step.late_fee is not None and invoice.issued.kind == "goods":  # no fee on a fee
            raised = await self._call(
                ActivityName.RAISE_LATE_FEE,
                RaiseLateFee(
                    order_id=self._order_id,
                    invoice_number=invoice_number,
                    step_name=step.name,
                    late_fee=step.late_fee,
                    on=workflow.now().date(),
                ),
                LateFeeRaised,
                summary=f"late fee on {invoice_number}",
            )
            if raised.invoice is not None and raised.invoice.number not in self._book.invoices:
                self._book.add_invoice(raised.invoice, [])
                await self._send_invoice(raised.invoice)

    async def _check_promise(self) -> None:
        promise = self._book.promise
        assert promise is not None
        self._promise_checked.add(promise.promised_date)
        self._book.promise = None
        if self._book.paid_minor >= self._book.minor(promise.amount):
            self._note("promise_kept", str(promise.promised_date))
            return
        self._note("promise_broken", f"{promise.amount} promised for {promise.promised_date}", refused=True)
        invoice = self._book.oldest_open_invoice()
        if invoice is not None:
            escalation = next(s for s in reversed(self._policy.dunning.steps))
            await self._dunning_step(invoice.number, escalation)

    async def _alert_fulfillment(self) -> None:
        self._fulfillment_alerted = True
        await self._email(
            EmailKind.FULFILLMENT_OVERDUE,
            "fulfillment-overdue",
            note=f"approved {self._policy.fulfillment_alert.days} days ago",
        )

    async def _sleep_until(self, wake: datetime | None, what: str, woken: Callable[[], bool]) -> bool:
        """Waits until ``woken()`` or the deadline; True when woken first."""
        await self._record_shipments()  # an order never rests on shipments the database has not seen
        await self._publish(flush=True)
        if wake is None:
            await workflow.wait_condition(woken)
            return True
        timeout = max(wake - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(woken, timeout=timeout, timeout_summary=what[:100])
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------------------ messages

    @workflow.query(name="status")
    def status(self) -> StatusView:
        return self._book.view(workflow.now().date(), self._waiting_for)

    @workflow.signal(name="shipment_dispatched")
    def shipment_dispatched(self, raw: RawValue) -> None:
        shipment = self._decode("shipment_dispatched", raw, ShipmentDispatched)
        if shipment is None:
            return
        if shipment.shipment_id in self._book.shipments:
            if self._book.repeats_differently(shipment):
                self._refuse(
                    "shipment_dispatched",
                    f"shipment {shipment.shipment_id} was received before with other lines, carrier or tracking "
                    "number: this copy is ignored (check the warehouse integration)",
                )
            return
        self._book.shipments[shipment.shipment_id] = shipment
        self._inbox.append(shipment)

    @workflow.signal(name="shipment_delivered")
    def shipment_delivered(self, raw: RawValue) -> None:
        delivery = self._decode("shipment_delivered", raw, ShipmentDelivered)
        if delivery is None:
            return
        if delivery.shipment_id not in self._book.shipments:
            self._refuse("shipment_delivered", f"unknown shipment {delivery.shipment_id}")
            return
        self._inbox.append(delivery)

    @workflow.signal(name="payment_received")
    def payment_received(self, raw: RawValue) -> None:
        payment = self._decode("payment_received", raw, PaymentReceived)
        if payment is None:
            return
        seen = self._book.payments.get(payment.payment_id)
        if seen is not None:
            if seen != (payment.amount, payment.currency):
                self._refuse(
                    "payment_received",
                    f"payment {payment.payment_id} was received before as {seen[0]} {seen[1]}; this copy says "
                    f"{payment.amount} {payment.currency} and is ignored (check the integration that sent it)",
                )
            return
        self._book.payments[payment.payment_id] = (payment.amount, payment.currency)
        # Money is never turned away: what this order cannot apply goes to cash application, booked.
        if payment.currency != self._book.currency:
            reason = f"the payment is in {payment.currency}, the order in {self._book.currency}"
            self._inbox.append(UnappliedPayment(payment, reason))
        elif self._book.is_closed:
            reason = f"the payment arrived after the order closed ({self._book.status.value})"
            self._inbox.append(UnappliedPayment(payment, reason))
        else:
            self._inbox.append(payment)

    @workflow.signal(name="payment_failed")
    def payment_failed(self, raw: RawValue) -> None:
        """A payment the customer attempted failed at Stripe: the invoice stays due, dunning goes on, and
        the timeline shows why (the webhook receiver keeps the event itself in ``webhook_events``)."""
        failure = self._decode("payment_failed", raw, PaymentFailed)
        if failure is None:
            return
        reason = failure.code or "declined"
        detail = f"{failure.payment_id}: {failure.amount} {failure.currency} {reason}"
        self._note("payment_failed", f"{detail}: {failure.message}" if failure.message else detail)
        if failure.payment_id in self._pending_debits:
            self._inbox.append(failure)  # our own debit came back: the customer is asked to pay another way

    # Finance's decisions: a signal and an update of each name, refused by the same rules.

    @workflow.signal(name="approve_credit")
    def approve_credit_signal(self, raw: RawValue) -> None:
        self._via_signal("approve_credit", raw, ApproveCredit, self._approve_credit)

    @workflow.update(name="approve_credit")
    def approve_credit(self, command: ApproveCredit) -> DecisionResult:
        return self._decided(command, self._approve_credit)

    @approve_credit.validator
    def _validate_approve_credit(self, command: ApproveCredit) -> None:
        self._validate(command, self._approve_credit)

    def _approve_credit(self, command: ApproveCredit, dry_run: bool = False) -> str:
        self._check(self._refuse_credit_answer())
        if not dry_run:
            self._credit_answer = command
        return "credit approved"

    @workflow.signal(name="reject_credit")
    def reject_credit_signal(self, raw: RawValue) -> None:
        self._via_signal("reject_credit", raw, RejectCredit, self._reject_credit)

    @workflow.update(name="reject_credit")
    def reject_credit(self, command: RejectCredit) -> DecisionResult:
        return self._decided(command, self._reject_credit)

    @reject_credit.validator
    def _validate_reject_credit(self, command: RejectCredit) -> None:
        self._validate(command, self._reject_credit)

    def _reject_credit(self, command: RejectCredit, dry_run: bool = False) -> str:
        self._check(self._refuse_credit_answer())
        if not dry_run:
            self._credit_answer = command
        return "credit rejected"

    @workflow.signal(name="open_dispute")
    def open_dispute_signal(self, raw: RawValue) -> None:
        self._via_signal("open_dispute", raw, OpenDispute, self._open_dispute)

    @workflow.update(name="open_dispute")
    def open_dispute(self, command: OpenDispute) -> DecisionResult:
        return self._decided(command, self._open_dispute)

    @open_dispute.validator
    def _validate_open_dispute(self, command: OpenDispute) -> None:
        self._validate(command, self._open_dispute)

    def _open_dispute(self, command: OpenDispute, dry_run: bool = False) -> str:
        self._check(self._book.refuse_dispute(command))
        if not dry_run:
            self._book.disputes[command.dispute_id] = DisputeState(
                dispute_id=command.dispute_id,
                amount_minor=self._book.minor(command.amount),
                reason=command.reason,
                opened_by=command.by,
            )
            self._inbox.append(command)
            self._note("dispute_opened", f"{command.dispute_id}: {command.amount} by {command.by}")
        return "dispute opened; dunning paused"

    @workflow.signal(name="resolve_dispute")
    def resolve_dispute_signal(self, raw: RawValue) -> None:
        self._via_signal("resolve_dispute", raw, ResolveDispute, self._resolve)

    @workflow.update(name="resolve_dispute")
    def resolve_dispute(self, command: ResolveDispute) -> DecisionResult:
        return self._decided(command, self._resolve)

    @resolve_dispute.validator
    def _validate_resolve_dispute(self, command: ResolveDispute) -> None:
        self._validate(command, self._resolve)

    def _resolve(self, command: ResolveDispute, dry_run: bool = False) -> str:
        self._check(self._book.refuse_resolution(command))
        if not dry_run:
            self._book.disputes[command.dispute_id].status = command.outcome.value
            self._inbox.append(command)
            self._note("dispute_resolved", f"{command.dispute_id}: {command.outcome.value} by {command.by}")
        return f"dispute resolved: {command.outcome.value}"

    @workflow.signal(name="promise_to_pay")
    def promise_to_pay_signal(self, raw: RawValue) -> None:
        self._via_signal("promise_to_pay", raw, PromiseToPay, self._promise)

    @workflow.update(name="promise_to_pay")
    def promise_to_pay(self, command: PromiseToPay) -> DecisionResult:
        return self._decided(command, self._promise)

    @promise_to_pay.validator
    def _validate_promise_to_pay(self, command: PromiseToPay) -> None:
        self._validate(command, self._promise)

    def _promise(self, command: PromiseToPay, dry_run: bool = False) -> str:
        self._check(self._book.refuse_promise(command, workflow.now().date()))
        if not dry_run:
            self._book.promise = command
            self._note("promise_to_pay", f"{command.amount} by {command.promised_date} ({command.by})")
            if self._since(PROMISE_REPLANS_PATCH):
                self._replan = True  # the reminder already scheduled may now fall inside the promise
        return f"reminders paused until {command.promised_date}"

    @workflow.signal(name="cancel_order")
    def cancel_order_signal(self, raw: RawValue) -> None:
        self._via_signal("cancel_order", raw, CancelOrder, self._cancel)

    @workflow.update(name="cancel_order")
    def cancel_order(self, command: CancelOrder) -> DecisionResult:
        return self._decided(command, self._cancel)

    @cancel_order.validator
    def _validate_cancel_order(self, command: CancelOrder) -> None:
        self._validate(command, self._cancel)

    def _cancel(self, command: CancelOrder, dry_run: bool = False) -> str:
        self._check(self._book.refuse_cancel())
        if not dry_run:
            self._book.cancelled = command
            self._note("cancel_requested", f"{command.by}: {command.reason}")
        return "order cancelled; reserved credit released"

    @workflow.signal(name="add_charge")
    def add_charge_signal(self, raw: RawValue) -> None:
        self._via_signal("add_charge", raw, AddCharge, self._add_charge)

    @workflow.update(name="add_charge")
    def add_charge(self, command: AddCharge) -> DecisionResult:
        return self._decided(command, self._add_charge)

    @add_charge.validator
    def _validate_add_charge(self, command: AddCharge) -> None:
        self._validate(command, self._add_charge)

    def _add_charge(self, command: AddCharge, dry_run: bool = False) -> str:
        self._check(self._book.refuse_charge(command))
        if not dry_run:
            self._book.charge_ids.add(command.charge_id)
            self._inbox.append(command)
            self._note(
                "charge_requested", f"{command.charge_id}: {command.amount} {command.description} ({command.by})"
            )
        return "charge accepted; it is invoiced on its own invoice"

    @workflow.signal(name="write_off")
    def write_off_signal(self, raw: RawValue) -> None:
        self._via_signal("write_off", raw, WriteOff, self._write_off)

    @workflow.update(name="write_off")
    def write_off(self, command: WriteOff) -> DecisionResult:
        return self._decided(command, self._write_off)

    @write_off.validator
    def _validate_write_off(self, command: WriteOff) -> None:
        self._validate(command, self._write_off)

    def _write_off(self, command: WriteOff, dry_run: bool = False) -> str:
        self._check(self._book.refuse_write_off(command, self._policy.dunning.write_off_from))
        if not dry_run:
            self._inbox.append(command)
            self._note("write_off_requested", f"{command.amount or 'all due'} by {command.by}")
        return "write-off accepted"

    # ------------------------------------------------------------------------------- helpers

    @property
    def _order_id(self) -> str:
        return self._book.order.order_id

    def _refuse_credit_answer(self) -> str | None:
        """Approve and reject share one rule: only on hold, and only the first answer counts."""
        refusal = self._book.refuse_credit_decision(workflow.now().date())
        if refusal is None and self._credit_answer is not None:
            return "a decision is already on its way"
        return refusal

    def _check(self, refusal: str | None) -> None:
        if refusal is not None:
            raise InvalidDecision(refusal)

    def _validate(self, command: Any, apply: Callable[..., str]) -> None:
        if not (command.request_id and command.request_id in self._book.request_ids):
            _refusing_bad_amounts(apply, command, dry_run=True)

    def _decided(self, command: Any, apply: Callable[..., str]) -> DecisionResult:
        request_id = getattr(command, "request_id", None)
        if request_id and request_id in self._book.request_ids:
            return DecisionResult(accepted=True, status=self._status_now().value, message="already accepted")
        message = _refusing_bad_amounts(apply, command)
        if request_id:
            self._book.request_ids.add(request_id)
        return DecisionResult(accepted=True, status=self._status_now().value, message=message)

    def _via_signal(self, name: str, raw: RawValue, model: type[T], apply: Callable[..., str]) -> None:
        command = self._decode(name, raw, model)
        if command is None:
            return
        try:
            self._decided(command, apply)
        except InvalidDecision as refusal:
            self._refuse(name, refusal.message)

    def _decode(self, name: str, raw: RawValue, model: type[T]) -> T | None:
        try:
            value = workflow.payload_converter().from_payload(raw.payload, model)
        except Exception as err:
            self._refuse(name, f"invalid payload: {_short(err)}")
            return None
        if value is None:  # JSON null is no message at all
            self._refuse(name, "invalid payload: empty (null)")
        return value

    def _status_now(self) -> OrderStatus:
        return self._book.current_status(workflow.now().date())

    def _refuse(self, name: str, reason: str) -> None:
        workflow.logger.warning("refused %s: %s", name, reason)
        self._note(name, reason, refused=True)

    def _note(self, event: str, detail: str, refused: bool = False) -> None:
        self._book.note(workflow.now(), event, detail, refused)

    def _wait(self, what: str) -> None:
        self._waiting_for = what

    def _money(self, minor: int) -> str:
        return f"{from_minor(minor, self._book.currency)} {self._book.currency}"

    async def _set_status(
        self,
        status: OrderStatus,
        event: str,
        detail: str,
        actor: str,
        key: str = "",
        credit: CreditRecord | None = None,
        release: bool = False,
    ) -> None:
        self._book.status = status
        await self._call(
            ActivityName.RECORD_EVENT,
            OrderEvent(
                order_id=self._order_id,
                event=event,
                detail=detail,
                actor=actor,
                status=status,
                dedupe_key=f"{self._order_id}:{event}{key}",
                credit=credit,
                release_credit=release,
            ),
            None,
        )
        await self._publish()

    def _record_credit(self, assessment: CreditAssessment, stage: str) -> None:
        self._book.credit_decision = f"{assessment.decision}: {assessment.reason}"
        self._book.decide_credit(workflow.now(), assessment.decision, ENGINE, assessment.reason, stage, assessment)
        self._note(f"credit_{assessment.decision}", assessment.reason)

    def _finance_decided(self, decision: str, by: str, reason: str, stage: str) -> CreditRecord:
        """Finance's answer, kept with the figures of the hold it answered."""
        hold = self._book.last_credit_assessment
        self._book.decide_credit(workflow.now(), decision, by, reason, stage, hold)
        return CreditRecord.model_validate(
            {
                "decision": decision,
                "by": by,
                "reason": reason,
                "stage": stage,
                "limit_minor": hold.limit_minor if hold else None,
                "figures": hold.figures if hold else None,
            }
        )

    def _hold_note(self, assessment: CreditAssessment) -> str:
        lines = [f"Why: {assessment.reason}."]
        figures = assessment.figures
        if figures is not None:
            limit = (
                self._money(assessment.limit_minor) if assessment.limit_minor is not None else "none in this currency"
            )
            risk = figures.risk
            lines += [
                f"Exposure: {self._money(figures.exposure_minor)} (limit {limit})",
                f"  open receivables {self._money(figures.open_receivables_minor)}",
                f"  approved orders not yet invoiced {self._money(figures.approved_not_invoiced_minor)}",
                f"  this order {self._money(figures.order_minor)}",
                f"Overdue invoices: {figures.overdue_invoices}; risk class {figures.risk_class}; risk score "
                f"{risk.score if risk.score is not None else 'none (no history)'} ({risk.source}: "
                f"{risk.late_payments} of {risk.invoices_considered} invoices paid late, "
                f"{risk.avg_days_beyond_terms} days beyond terms on average, {risk.disputes} dispute(s))",
            ]
        return "\n".join(lines)

    async def _email(
        self,
        kind: EmailKind,
        key: str,
        invoice_number: str | None = None,
        note: str = "",
        document_number: str | None = None,
    ) -> None:
        email = SendEmail(
            key=f"{self._order_id}:{key}",
            order_id=self._order_id,
            kind=kind,
            invoice_number=invoice_number,
            note=note,
            document_number=document_number,
        )
        attempts = self._policy.email_max_attempts
        try:
            await call(ActivityName.SEND_EMAIL, email, None, f"email {kind.value}", retry_at_most(attempts))
        except ActivityError as err:
            # Only with O2C_EMAIL_MAX_ATTEMPTS set (or SendGrid refusing the email for good): the order goes
            # on, and the failure is on its timeline and in the audit trail for a person to follow up.
            reason = _short(err.cause or err)
            self._note("email_failed", f"{kind.value} ({email.key}): {reason}", refused=True)
            await self._call(
                ActivityName.RECORD_EVENT,
                OrderEvent(
                    order_id=self._order_id,
                    event="email_failed",
                    detail=f"{kind.value} not sent after {attempts or 'its'} attempts: {reason}",
                    actor="o2c",
                    dedupe_key=f"email-failed:{email.key}",
                ),
                None,
            )

    def _since(self, patch: str) -> bool:
        """``workflow.patched`` for the patches before local writes. An order started on local writes is
        newer than all of them, so it needs no marker for them (each would cost a marker and a search
        attribute event); older orders ask as they always did, so their histories replay unchanged."""
        return self._local or workflow.patched(patch)

    async def _call(
        self, name: ActivityName, arg: BaseModel, result: type[T] | None, summary: str | None = None
    ) -> Any:
        if name not in (ActivityName.ISSUE_INVOICE, ActivityName.RECHECK_CREDIT):
            await self._record_shipments()  # every other step sees the shipments taken before it
        return await call(name, arg, result, summary, local=self._local)

    def _take_unrecorded(self) -> list[RecordShipment]:
        taken, self._unrecorded = self._unrecorded, []
        return taken

    async def _record_shipments(self) -> None:
        """Shipments held for an invoice that is not coming now: written on their own, in order."""
        for record in self._take_unrecorded():
            await call(ActivityName.RECORD_SHIPMENT, record, None, local=self._local)

    async def _publish(self, flush: bool = False) -> None:
        """Search attributes and current details follow every change (upserted only when they differ).
        Orders on local activities upsert only when about to wait (``flush``): the changes of one burst of
        work become one event, and what operators filter on is current whenever the order rests."""
        today = workflow.now().date()
        status = self._book.current_status(today)
        due = self._book.due_date
        values: dict[str, Any] = {
            sa.ORDER_STATUS.name: status.value,
            sa.AMOUNT_DUE.name: float(from_minor(self._book.amount_due_minor, self._book.currency)),
            sa.DUNNING_LEVEL.name: self._book.dunning_level,
            sa.DUE_DATE.name: _at(due) if due else None,
        }
        if not self._published:
            values[sa.CUSTOMER_ID.name] = self._book.order.customer.id
        workflow.set_current_details(
            f"**{status.value}** · due {self._money(self._book.amount_due_minor)} · waiting for {self._waiting_for}"
        )
        if self._local and not flush:
            return
        updates = [
            key.value_set(value) if value is not None else key.value_unset()
            for key in sa.ALL_KEYS
            if key.name in values and self._published.get(key.name, "unset") != (value := values[key.name])
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published.update(values)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


def _refusing_bad_amounts(apply: Callable[..., str], command: Any, dry_run: bool = False) -> str:
    """The rules refuse an amount that is no money in the order's currency before converting it; this is
    the net under them: a conversion error in a message handler fails the workflow task, again and again."""
    try:
        return apply(command, dry_run=dry_run)
    except (MoneyError, ArithmeticError) as err:
        raise InvalidDecision(f"invalid amount: {_short(err)}") from err


def _short(err: BaseException) -> str:
    text = str(err).replace("\n", "; ")
    return text[:300]
