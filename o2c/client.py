"""A small client for storefronts, warehouses and finance: validates before sending, clear errors after.

Every method takes the contract's model or the same data as a plain dict, so callers get the
contract's validation message before anything reaches Temporal.
"""

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.activity_io import EmailSent
from models.contract import (
    AddCharge,
    ApproveCredit,
    CancelOrder,
    ChangeCustomer,
    CustomerChanged,
    DecisionResult,
    OpenDispute,
    OrderOutcome,
    PaymentReceived,
    PlaceOrder,
    PromiseToPay,
    RefundInvoice,
    RefundResult,
    RejectCredit,
    ResendDocument,
    ResolveDispute,
    SendStatement,
    ShipmentDelivered,
    ShipmentDispatched,
    StatusView,
    WriteOff,
)
from models.naming import (
    CUSTOMER_CHANGE_WORKFLOW,
    REFUND_WORKFLOW,
    RESEND_WORKFLOW,
    STATEMENT_WORKFLOW,
    TASK_QUEUE,
    WORKFLOW_NAME,
    customer_change_id,
    refund_id,
    resend_id,
    statement_id,
    workflow_id,
)

M = TypeVar("M", bound=BaseModel)


class O2CError(Exception):
    """Base of the client's errors; the message says what went wrong and what to do."""


class InvalidInput(O2CError):
    pass


class OrderConflict(O2CError):
    pass


class UnknownOrder(O2CError):
    pass


class DecisionRefused(O2CError):
    pass


def validated(model: type[M], data: M | dict[str, Any]) -> M:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput(f"invalid {model.__name__}: " + "; ".join(lines)) from None


R = TypeVar("R", ResendDocument, SendStatement, RefundInvoice)


def requested(model: type[R], data: R | dict[str, Any]) -> tuple[R, str]:
    """A request run by a workflow keyed by its request id: validated, with an id minted if it had none."""
    request = validated(model, data)
    request_id = request.request_id or uuid.uuid4().hex
    return request.model_copy(update={"request_id": request_id}), request_id


class O2CClient:
    def __init__(self, client: Client, task_queue: str = TASK_QUEUE) -> None:
        self._client = client
        self._task_queue = task_queue

    @property
    def temporal(self) -> Client:
        """The Temporal client underneath, for what runs beside the order's own messages (cash application)."""
        return self._client

    @property
    def task_queue(self) -> str:
        return self._task_queue

    async def start_order(self, order: PlaceOrder | dict[str, Any]) -> WorkflowHandle[Any, Any]:
        """Starts the order's workflow; the same order again returns the same workflow, a different
        payload under an existing order id raises ``OrderConflict``."""
        order = validated(PlaceOrder, order)
        total = sum(line.unit_price * line.quantity for line in order.lines)
        try:
            return await self._client.start_workflow(
                WORKFLOW_NAME,
                order,
                id=workflow_id(order.order_id),
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                result_type=OrderOutcome,
                static_summary=f"Order {order.order_id} · customer {order.customer.id} · "
                f"{len(order.lines)} line(s) · {total} {order.currency} net",
                static_details=f"Payment: {order.payment_method.value}; invoicing: {order.invoicing.value}; "
                + (
                    f"terms: net {order.payment_terms.net_days} days"
                    if order.payment_terms
                    else "terms: the customer's default"
                ),
            )
        except WorkflowAlreadyStartedError:
            started_with, first_run_id = await self._started_with(workflow_id(order.order_id))
            if started_with != order:
                raise OrderConflict(
                    f"order {order.order_id} already exists with different contents; use a new order id for a new order"
                ) from None
            return self._client.get_workflow_handle(
                workflow_id(order.order_id), first_execution_run_id=first_run_id, result_type=OrderOutcome
            )

    async def _started_with(self, workflow_id_: str) -> tuple[PlaceOrder | None, str | None]:
        """The order an existing workflow was started with, and its first run's id.

        The input is decoded by the client's whole data converter: with payload encryption on it is
        ciphertext until the codec has opened it."""
        async for event in self._client.get_workflow_handle(workflow_id_).fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            if not started.input.payloads:
                return None, started.first_execution_run_id
            converter = self._client.data_converter.with_context(
                WorkflowSerializationContext(namespace=self._client.namespace, workflow_id=workflow_id_)
            )
            [value] = await converter.decode(started.input.payloads[:1], [PlaceOrder])
            return value, started.first_execution_run_id
        return None, None

    async def status(self, order_id: str) -> StatusView:
        try:
            result = await self._handle(order_id).query("status", result_type=StatusView)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise UnknownOrder(f"no order {order_id}: check the id, or start it first") from None
            raise
        return result

    # Facts from the warehouse and from cash application: signals.

    async def ship(self, order_id: str, shipment: ShipmentDispatched | dict[str, Any]) -> None:
        await self._signal(order_id, "shipment_dispatched", validated(ShipmentDispatched, shipment))

    async def delivered(self, order_id: str, delivery: ShipmentDelivered | dict[str, Any]) -> None:
        await self._signal(order_id, "shipment_delivered", validated(ShipmentDelivered, delivery))

    async def payment_received(self, order_id: str, payment: PaymentReceived | dict[str, Any]) -> None:
        await self._signal(order_id, "payment_received", validated(PaymentReceived, payment))

    # Finance's decisions: updates, answered at once, refused with the reason.

    async def approve_credit(self, order_id: str, decision: ApproveCredit | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "approve_credit", validated(ApproveCredit, decision))

    async def reject_credit(self, order_id: str, decision: RejectCredit | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "reject_credit", validated(RejectCredit, decision))

    async def open_dispute(self, order_id: str, decision: OpenDispute | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "open_dispute", validated(OpenDispute, decision))

    async def resolve_dispute(self, order_id: str, decision: ResolveDispute | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "resolve_dispute", validated(ResolveDispute, decision))

    async def promise_to_pay(self, order_id: str, decision: PromiseToPay | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "promise_to_pay", validated(PromiseToPay, decision))

    async def cancel_order(self, order_id: str, decision: CancelOrder | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "cancel_order", validated(CancelOrder, decision))

    async def write_off(self, order_id: str, decision: WriteOff | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "write_off", validated(WriteOff, decision))

    async def add_charge(self, order_id: str, decision: AddCharge | dict[str, Any]) -> DecisionResult:
        return await self._decide(order_id, "add_charge", validated(AddCharge, decision))

    # The customer master: one short workflow per change (audited, accounts receivable told once).

    async def change_customer(self, change: ChangeCustomer | dict[str, Any]) -> CustomerChanged:
        """Makes the change and waits for it; the same ``change_id`` again answers the first result."""
        change = validated(ChangeCustomer, change)
        change_id = change.change_id or uuid.uuid4().hex
        change = change.model_copy(update={"change_id": change_id})
        return await self._run_once(
            CUSTOMER_CHANGE_WORKFLOW,
            change,
            customer_change_id(change.customer_id, change_id),
            CustomerChanged,
            f"Customer {change.customer_id}: change by {change.by}",
            "customer change",
        )

    # Documents and statements on request: one short workflow per request, the request id its key.

    async def resend_document(self, request: ResendDocument | dict[str, Any]) -> EmailSent:
        """Sends an issued invoice or credit note again (the archived PDF and XML); the same
        ``request_id`` again sends nothing more."""
        request, request_id = requested(ResendDocument, request)
        return await self._run_once(
            RESEND_WORKFLOW,
            request,
            resend_id(request.number, request_id),
            EmailSent,
            f"Send {request.number} again ({request.by})",
            "resend",
        )

    async def send_statement(self, request: SendStatement | dict[str, Any]) -> EmailSent:
        """Emails the customer a statement of every open invoice with its age (and a CSV of it)."""
        request, request_id = requested(SendStatement, request)
        return await self._run_once(
            STATEMENT_WORKFLOW,
            request,
            statement_id(request.customer_id, request_id),
            EmailSent,
            f"Statement for {request.customer_id} ({request.by})",
            "statement",
        )

    async def refund_invoice(self, request: RefundInvoice | dict[str, Any]) -> RefundResult:
        """Credits an invoice that is already paid and refunds it to the card it was paid with (what was
        paid otherwise is held as the customer's credit); the same ``request_id`` again refunds nothing."""
        request, request_id = requested(RefundInvoice, request)
        return await self._run_once(
            REFUND_WORKFLOW,
            request,
            refund_id(request.invoice_number, request_id),
            RefundResult,
            f"Refund {request.amount} on {request.invoice_number} ({request.by})",
            "refund",
        )

    async def _run_once(
        self, workflow: str, arg: BaseModel, workflow_id_: str, result: type[M], summary: str, what: str
    ) -> M:
        """Starts the workflow unless that id already ran, and waits for its result either way."""
        try:
            handle = await self._client.start_workflow(
                workflow,
                arg,
                id=workflow_id_,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                result_type=result,
                static_summary=summary,
            )
        except WorkflowAlreadyStartedError:
            handle = self._client.get_workflow_handle(workflow_id_, result_type=result)
        try:
            outcome: M = await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause.cause if isinstance(exc.cause, ActivityError) else exc.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise InvalidInput(f"{what} refused: {reason}") from None
        return outcome

    def _handle(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(workflow_id(order_id))

    async def _signal(self, order_id: str, name: str, payload: BaseModel) -> None:
        try:
            await self._handle(order_id).signal(name, payload)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise UnknownOrder(f"no open order {order_id} to send {name} to") from None
            raise

    async def _decide(self, order_id: str, name: str, payload: BaseModel) -> DecisionResult:
        try:
            result = await self._handle(order_id).execute_update(name, payload, result_type=DecisionResult)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise DecisionRefused(f"{name} refused for order {order_id}: {reason}") from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise UnknownOrder(f"no open order {order_id} for {name}") from None
            raise
        return result


def describe(view: StatusView) -> str:
    credit = view.credit_decisions[-1] if view.credit_decisions else None
    return (
        f"{view.order_id}: {view.status.value} ({view.stage.value}), due {view.totals.due} {view.currency}; "
        f"waiting for {view.waiting_for}"
        + (f"; credit {credit.decision} by {credit.by}: {credit.reason}" if credit else "")
    )
