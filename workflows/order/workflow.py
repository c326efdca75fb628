"""OrderToCash: one durable workflow per order, from placement to cash applied.

The run method reads as the process: record the order (with its credit check), wait for finance on a hold,
then fulfil and collect until the order is settled or cancelled, then close. Messages only validate and
enqueue (``messages``); the run loop does the work, through one module per stage.
"""

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflows.calls import CLOSE_ORDER, RECORD_ORDER

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    import workflows.order.collections as collections
    import workflows.order.credit as credit
    import workflows.order.fulfillment as fulfillment
    import workflows.order.invoicing as invoicing
    import workflows.order.messages as messages
    import workflows.order.payments as payments
    from models.activity_io import CloseOrder, ErrorType, RecordOrder
    from models.contract import (
        AddCharge,
        ApproveCredit,
        CancelOrder,
        OpenDispute,
        OrderOutcome,
        OrderStatus,
        PaymentFailed,
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
    from models.naming import WORKFLOW_NAME, workflow_id
    from workflows.order.core import OrderProcess, UnappliedPayment
    from workflows.order.schedule import Deadline, Due
    from workflows.order.views import status_view, totals


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class OrderToCash(OrderProcess):
    @workflow.init
    def __init__(self, order: PlaceOrder) -> None:
        super().__init__(order)

    @workflow.run
    async def run(self, order: PlaceOrder) -> OrderOutcome:
        if workflow.info().workflow_id != workflow_id(order.order_id):
            # A second workflow for the same order row would invoice and charge it twice.
            raise ApplicationError(
                f"order {order.order_id} runs as workflow {workflow_id(order.order_id)!r}, "
                f"not {workflow.info().workflow_id!r}: start it under that id",
                type=ErrorType.ORDER_CONFLICT.value,
                non_retryable=True,
            )
        recorded = await RECORD_ORDER(RecordOrder(order=order, placed_at=workflow.now()))
        self.policy = recorded.policy
        self.schedule.policy = recorded.policy
        self.book.order_total_minor = recorded.order_total_minor
        self.note("placed", f"{len(order.lines)} line(s), {self.money(recorded.order_total_minor)}")
        if await credit.pass_credit_check(self, recorded.assessment):
            await self._fulfil_and_collect()
        return await self._close()

    async def _fulfil_and_collect(self) -> None:
        self.book.stage = Stage.FULFILLMENT
        self.book.status = OrderStatus.AWAITING_SHIPMENT
        approved_at = workflow.now()
        await self.publish()
        while True:
            await self._process_inbox()
            if self.book.cancelled is not None:
                if not self.cancel_recorded:
                    await credit.cancel_order(self, self.book.cancelled)
                return
            if self.book.settled:
                return
            await invoicing.invoice_what_shipped(self)
            await self.publish()
            if self.book.settled:
                return
            deadline = self.schedule.next_deadline(self.book, approved_at)
            self.wait(deadline.waiting_for)
            woken = lambda: bool(self.inbox) or self.book.cancelled is not None or self.replan  # noqa: E731
            if not await self.sleep_until(deadline.at, deadline.waiting_for, woken):
                await self._when_due(deadline)
            self.replan = False

    async def _when_due(self, deadline: Deadline) -> None:
        if deadline.due is Due.FULFILLMENT_ALERT:
            await fulfillment.alert_fulfillment(self)
        elif deadline.due is Due.CARD_RETRY:
            await payments.retry_card(self, deadline.invoice_number)
        elif deadline.due is Due.PROMISE_CHECK:
            await collections.check_promise(self)
        elif deadline.due is Due.DUNNING_STEP:
            assert deadline.step is not None
            await collections.dunning_step(self, deadline.invoice_number, deadline.step)

    async def _process_inbox(self) -> None:
        while self.inbox:
            item = self.inbox.pop(0)
            if isinstance(item, ShipmentDispatched):
                await fulfillment.take_shipment(self, item)
            elif isinstance(item, ShipmentDelivered):
                await fulfillment.record_delivery(self, item)
            elif isinstance(item, PaymentReceived):
                await payments.apply_payment(self, item)
            elif isinstance(item, UnappliedPayment):
                await payments.queue_payment(self, item.payment, item.reason)
            elif isinstance(item, PaymentFailed):
                await payments.debit_failed(self, item)
            elif isinstance(item, OpenDispute):
                await collections.record_dispute(self, item.dispute_id, "open", item.by, item.reason)
            elif isinstance(item, ResolveDispute):
                await collections.resolve_dispute(self, item)
            elif isinstance(item, AddCharge):
                await invoicing.bill_charge(self, item)
            elif isinstance(item, WriteOff):
                await collections.write_off(self, item)
            if self.book.cancelled is not None:
                await credit.cancel_order(self, self.book.cancelled)
                return

    async def _close(self) -> OrderOutcome:
        await workflow.wait_condition(workflow.all_handlers_finished)
        final = self.book.final_status()
        if self.book.status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            self.book.status = final
        self.book.stage = Stage.CLOSED
        closed_at = workflow.now()
        await self.step(CLOSE_ORDER, CloseOrder(order_id=self.order_id, status=self.book.status, closed_at=closed_at))
        self.note("closed", self.book.status.value)
        await payments.queue_unapplied(self)
        self.wait("nothing: the order is closed")
        await self.publish(flush=True)
        return OrderOutcome(
            order_id=self.order_id, status=self.book.status, totals=totals(self.book), closed_at=closed_at
        )

    # ------------------------------------------------------------------------------ messages

    @workflow.query(name="status")
    def status(self) -> StatusView:
        return status_view(self.book, workflow.now().date(), self.waiting_for)

    @workflow.signal(name="shipment_dispatched")
    def shipment_dispatched(self, raw: RawValue) -> None:
        messages.shipment_dispatched(self, raw)

    @workflow.signal(name="shipment_delivered")
    def shipment_delivered(self, raw: RawValue) -> None:
        messages.shipment_delivered(self, raw)

    @workflow.signal(name="payment_received")
    def payment_received(self, raw: RawValue) -> None:
        messages.payment_received(self, raw)

    @workflow.signal(name="payment_failed")
    def payment_failed(self, raw: RawValue) -> None:
        messages.payment_failed(self, raw)

    # Finance's decisions: a signal and an update of each name, from one rule each.
    approve_credit_signal, approve_credit = messages.decision("approve_credit", ApproveCredit, messages.approve_credit)
    reject_credit_signal, reject_credit = messages.decision("reject_credit", RejectCredit, messages.reject_credit)
    open_dispute_signal, open_dispute = messages.decision("open_dispute", OpenDispute, messages.open_dispute)
    resolve_dispute_signal, resolve_dispute = messages.decision(
        "resolve_dispute", ResolveDispute, messages.resolve_dispute
    )
    promise_to_pay_signal, promise_to_pay = messages.decision("promise_to_pay", PromiseToPay, messages.promise_to_pay)
    cancel_order_signal, cancel_order = messages.decision("cancel_order", CancelOrder, messages.cancel_order)
    add_charge_signal, add_charge = messages.decision("add_charge", AddCharge, messages.add_charge)
    write_off_signal, write_off = messages.decision("write_off", WriteOff, messages.write_off)
