"""Messages from outside: each only validates and enqueues, the run loop does the work.

Finance's decisions are declared once each (``decision``): a signal for any Temporal client, an update of
the same name answered at once, and the update's validator, all three asking the same rule. A refused
signal leaves its reason on the timeline; a refused update answers its caller with it; a request id seen
before is accepted again without effect.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    import workflows.order.rules as rules
    from models.contract import (
        AddCharge,
        ApproveCredit,
        CancelOrder,
        DecisionResult,
        OpenDispute,
        PaymentFailed,
        PaymentReceived,
        PromiseToPay,
        RejectCredit,
        ResolveDispute,
        ShipmentDelivered,
        ShipmentDispatched,
        WriteOff,
    )
    from models.money import MoneyError
    from workflows.order.book import DisputeState
    from workflows.order.core import InvalidDecision, OrderProcess, UnappliedPayment, short

M = TypeVar("M", bound=BaseModel)
Apply = Callable[[Any, Any, bool], str]  # (process, command, dry_run) -> what the caller is told


def decision(name: str, model: type[M], apply: Apply) -> tuple[Any, Any]:
    """The signal and the update (with its validator) of one finance decision, from one rule."""

    def on_signal(self: OrderProcess, raw: RawValue) -> None:
        command = decode(self, name, raw, model)
        if command is None:
            return
        try:
            decided(self, command, apply)
        except InvalidDecision as refusal:
            self.refuse(name, refusal.message)

    def on_update(self: OrderProcess, command: Any) -> DecisionResult:
        return decided(self, command, apply)

    def validate(self: OrderProcess, command: Any) -> None:
        if not (command.request_id and command.request_id in self.book.request_ids):
            _refusing_bad_amounts(apply, self, command, dry_run=True)

    # The SDK reads a handler's argument types from its annotations: the command is the decision's model, and
    # ``self`` must carry none (annotated, it would be taken for an argument).
    on_signal.__name__, on_update.__name__, validate.__name__ = f"{name}_signal", name, f"validate_{name}"
    del on_signal.__annotations__["self"]
    on_update.__annotations__ = {"command": model, "return": DecisionResult}
    validate.__annotations__ = {"command": model, "return": None}
    update = workflow.update(name=name)(on_update)
    update.validator(validate)
    return workflow.signal(name=name)(on_signal), update


def decided(p: OrderProcess, command: Any, apply: Apply) -> DecisionResult:
    request_id = getattr(command, "request_id", None)
    if request_id and request_id in p.book.request_ids:
        return DecisionResult(accepted=True, status=p.status_now().value, message="already accepted")
    message = _refusing_bad_amounts(apply, p, command)
    if request_id:
        p.book.request_ids.add(request_id)
    return DecisionResult(accepted=True, status=p.status_now().value, message=message)


def _refusing_bad_amounts(apply: Apply, p: OrderProcess, command: Any, dry_run: bool = False) -> str:
    """The rules refuse an amount that is no money in the order's currency before converting it; this is the
    net under them: a conversion error in a message handler fails the workflow task, again and again."""
    try:
        return apply(p, command, dry_run)
    except (MoneyError, ArithmeticError) as err:
        raise InvalidDecision(f"invalid amount: {short(err)}") from err


def decode(p: OrderProcess, name: str, raw: RawValue, model: type[M]) -> M | None:
    """Signals are decoded here, not by the SDK, so a bad payload is refused on the timeline, not dropped."""
    try:
        value = workflow.payload_converter().from_payload(raw.payload, model)
    except Exception as err:
        p.refuse(name, f"invalid payload: {short(err)}")
        return None
    if value is None:  # JSON null is no message at all
        p.refuse(name, "invalid payload: empty (null)")
    return value


def check(refusal: str | None) -> None:
    if refusal is not None:
        raise InvalidDecision(refusal)


# ---------------------------------------------------------------------------------- decisions


def approve_credit(p: OrderProcess, command: ApproveCredit, dry_run: bool) -> str:
    check(_refuse_credit_answer(p))
    if not dry_run:
        p.credit_answer = command
    return "credit approved"


def reject_credit(p: OrderProcess, command: RejectCredit, dry_run: bool) -> str:
    check(_refuse_credit_answer(p))
    if not dry_run:
        p.credit_answer = command
    return "credit rejected"


def _refuse_credit_answer(p: OrderProcess) -> str | None:
    """Approve and reject share one rule: only on hold, and only the first answer counts."""
    refusal = rules.refuse_credit_decision(p.book, workflow.now().date())
    if refusal is None and p.credit_answer is not None:
        return "a decision is already on its way"
    return refusal


def open_dispute(p: OrderProcess, command: OpenDispute, dry_run: bool) -> str:
    check(rules.refuse_dispute(p.book, command))
    if not dry_run:
        p.book.disputes[command.dispute_id] = DisputeState(
            dispute_id=command.dispute_id,
            amount_minor=p.book.minor(command.amount),
            reason=command.reason,
            opened_by=command.by,
        )
        p.inbox.append(command)
        p.note("dispute_opened", f"{command.dispute_id}: {command.amount} by {command.by}")
    return "dispute opened; dunning paused"


def resolve_dispute(p: OrderProcess, command: ResolveDispute, dry_run: bool) -> str:
    check(rules.refuse_resolution(p.book, command))
    if not dry_run:
        p.book.disputes[command.dispute_id].status = command.outcome.value
        p.inbox.append(command)
        p.note("dispute_resolved", f"{command.dispute_id}: {command.outcome.value} by {command.by}")
    return f"dispute resolved: {command.outcome.value}"


def promise_to_pay(p: OrderProcess, command: PromiseToPay, dry_run: bool) -> str:
    check(rules.refuse_promise(p.book, command, workflow.now().date()))
    if not dry_run:
        p.book.promise = command
        p.note("promise_to_pay", f"{command.amount} by {command.promised_date} ({command.by})")
        p.replan = True  # the reminder already scheduled may now fall inside the promise
    return f"reminders paused until {command.promised_date}"


def cancel_order(p: OrderProcess, command: CancelOrder, dry_run: bool) -> str:
    check(rules.refuse_cancel(p.book))
    if not dry_run:
        p.book.cancelled = command
        p.note("cancel_requested", f"{command.by}: {command.reason}")
    return "order cancelled; reserved credit released"


def add_charge(p: OrderProcess, command: AddCharge, dry_run: bool) -> str:
    check(rules.refuse_charge(p.book, command))
    if not dry_run:
        p.book.charge_ids.add(command.charge_id)
        p.inbox.append(command)
        p.note("charge_requested", f"{command.charge_id}: {command.amount} {command.description} ({command.by})")
    return "charge accepted; it is invoiced on its own invoice"


def write_off(p: OrderProcess, command: WriteOff, dry_run: bool) -> str:
    check(rules.refuse_write_off(p.book, command, p.policy.dunning.write_off_from))
    if not dry_run:
        p.inbox.append(command)
        p.note("write_off_requested", f"{command.amount or 'all due'} by {command.by}")
    return "write-off accepted"


# ------------------------------------------------------------------------- warehouse and cash


def shipment_dispatched(p: OrderProcess, raw: RawValue) -> None:
    shipment = decode(p, "shipment_dispatched", raw, ShipmentDispatched)
    if shipment is None:
        return
    if shipment.shipment_id in p.book.shipments:
        if p.book.repeats_differently(shipment):
            p.refuse(
                "shipment_dispatched",
                f"shipment {shipment.shipment_id} was received before with other lines, carrier or tracking "
                "number: this copy is ignored (check the warehouse integration)",
            )
        return
    p.book.shipments[shipment.shipment_id] = shipment
    p.inbox.append(shipment)


def shipment_delivered(p: OrderProcess, raw: RawValue) -> None:
    delivery = decode(p, "shipment_delivered", raw, ShipmentDelivered)
    if delivery is None:
        return
    if delivery.shipment_id not in p.book.shipments:
        p.refuse("shipment_delivered", f"unknown shipment {delivery.shipment_id}")
        return
    p.inbox.append(delivery)


def payment_received(p: OrderProcess, raw: RawValue) -> None:
    payment = decode(p, "payment_received", raw, PaymentReceived)
    if payment is None:
        return
    seen = p.book.payments.get(payment.payment_id)
    if seen is not None:
        if seen != (payment.amount, payment.currency):
            p.refuse(
                "payment_received",
                f"payment {payment.payment_id} was received before as {seen[0]} {seen[1]}; this copy says "
                f"{payment.amount} {payment.currency} and is ignored (check the integration that sent it)",
            )
        return
    p.book.payments[payment.payment_id] = (payment.amount, payment.currency)
    # Money is never turned away: what this order cannot apply goes to cash application, booked.
    if payment.currency != p.book.currency:
        p.inbox.append(
            UnappliedPayment(payment, f"the payment is in {payment.currency}, the order in {p.book.currency}")
        )
    elif p.book.is_closed:
        reason = f"the payment arrived after the order closed ({p.book.status.value})"
        p.inbox.append(UnappliedPayment(payment, reason))
    else:
        p.inbox.append(payment)


def payment_failed(p: OrderProcess, raw: RawValue) -> None:
    """A payment the customer attempted failed at Stripe: the invoice stays due, dunning goes on, and the
    timeline shows why (the webhook receiver keeps the event itself in ``webhook_events``)."""
    failure = decode(p, "payment_failed", raw, PaymentFailed)
    if failure is None:
        return
    detail = f"{failure.payment_id}: {failure.amount} {failure.currency} {failure.code or 'declined'}"
    p.note("payment_failed", f"{detail}: {failure.message}" if failure.message else detail)
    if failure.payment_id in p.pending_debits:
        p.inbox.append(failure)  # our own debit came back: the customer is asked to pay another way
