"""The order process's state and the few things every stage does: run a step, note it on the timeline, email,
record a status change, publish search attributes, sleep until something happens."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.calls import (
    ISSUE_INVOICE,
    RECHECK_CREDIT,
    RECORD_EVENT,
    RECORD_SHIPMENT,
    SEND_EMAIL,
    Activity,
    retry_at_most,
)

with workflow.unsafe.imports_passed_through():
    from datetime import datetime, timedelta

    from pydantic import BaseModel

    from models import search_attributes as sa
    from models.activity_io import CreditRecord, EmailKind, ErrorType, OrderEvent, RecordShipment, SendEmail
    from models.contract import (
        AddCharge,
        ApproveCredit,
        OpenDispute,
        OrderStatus,
        PaymentFailed,
        PaymentReceived,
        PlaceOrder,
        RejectCredit,
        ResolveDispute,
        ShipmentDelivered,
        ShipmentDispatched,
        WriteOff,
    )
    from models.money import from_minor
    from models.policy import OrderPolicy
    from workflows.order.book import OrderBook
    from workflows.order.schedule import Schedule, at_nine

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R")
ENGINE = "credit-engine"  # who decides when no person does
# Steps that write the held shipments themselves (the invoice) or must not see them yet (the re-check).
_SEE_HELD_SHIPMENTS_THEMSELVES = (ISSUE_INVOICE.name, RECHECK_CREDIT.name)


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


class InvalidDecision(ApplicationError):
    """A finance decision refused by the rules; the update caller sees it, a signal leaves it in the timeline."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type=ErrorType.INVALID_DECISION.value, non_retryable=True)


class OrderProcess:
    """State shared by the stages of one order. The workflow class adds the run loop and the messages."""

    def __init__(self, order: PlaceOrder) -> None:
        self.book = OrderBook(order=order)
        self.policy = OrderPolicy()
        self.schedule = Schedule()
        self.inbox: list[Inbound] = []
        self.credit_answer: ApproveCredit | RejectCredit | None = None
        self.credit_round = 0
        self.charge_keys: dict[str, str] = {}  # invoice (and retry) -> idempotency key, minted once
        self.pending_debits: dict[str, str] = {}  # PaymentIntent id -> invoice number
        self.prepayments: list[PaymentReceived] = []
        self.applied_payments: set[str] = set()
        self.write_offs = 0
        self.cancel_recorded = False
        self.replan = False
        self.held_shipments: list[RecordShipment] = []
        self.waiting_for = "recording the order"
        self._published: dict[str, Any] = {}

    @property
    def order_id(self) -> str:
        return self.book.order.order_id

    # ----------------------------------------------------------------------------------- steps

    async def step(self, activity: Activity[A, R], arg: A, summary: str | None = None) -> R:
        """Runs one activity. Every step sees the shipments taken before it: those held for an invoice are
        written first, except by the invoice, which writes them in its own transaction."""
        if activity.name not in _SEE_HELD_SHIPMENTS_THEMSELVES:
            await self.write_held_shipments()
        return await activity(arg, summary)

    def take_held_shipments(self) -> list[RecordShipment]:
        taken, self.held_shipments = self.held_shipments, []
        return taken

    async def write_held_shipments(self) -> None:
        """Shipments held for an invoice that is not coming now: written on their own, in order."""
        for record in self.take_held_shipments():
            await RECORD_SHIPMENT(record)

    # ------------------------------------------------------------------------------ telling

    def note(self, event: str, detail: str, refused: bool = False) -> None:
        self.book.note(workflow.now(), event, detail, refused)

    def refuse(self, name: str, reason: str) -> None:
        workflow.logger.warning("refused %s: %s", name, reason)
        self.note(name, reason, refused=True)

    def wait(self, what: str) -> None:
        self.waiting_for = what

    def money(self, minor: int) -> str:
        return f"{from_minor(minor, self.book.currency)} {self.book.currency}"

    def status_now(self) -> OrderStatus:
        return self.book.current_status(workflow.now().date())

    async def set_status(
        self,
        status: OrderStatus,
        event: str,
        detail: str,
        actor: str,
        key: str = "",
        credit: CreditRecord | None = None,
        release: bool = False,
    ) -> None:
        self.book.status = status
        event_row = OrderEvent(
            order_id=self.order_id,
            event=event,
            detail=detail,
            actor=actor,
            status=status,
            dedupe_key=f"{self.order_id}:{event}{key}",
            credit=credit,
            release_credit=release,
        )
        await self.step(RECORD_EVENT, event_row)
        await self.publish()

    async def email(
        self,
        kind: EmailKind,
        key: str,
        invoice_number: str | None = None,
        note: str = "",
        document_number: str | None = None,
    ) -> None:
        email = SendEmail(
            key=f"{self.order_id}:{key}",
            order_id=self.order_id,
            kind=kind,
            invoice_number=invoice_number,
            note=note,
            document_number=document_number,
        )
        attempts = self.policy.email_max_attempts
        try:
            await SEND_EMAIL(email, f"email {kind.value}", retry_at_most(attempts))
        except ActivityError as err:
            # Only with O2C_EMAIL_MAX_ATTEMPTS set (or SendGrid refusing the email for good): the order goes
            # on, and the failure is on its timeline and in the audit trail for a person to follow up.
            reason = short(err.cause or err)
            self.note("email_failed", f"{kind.value} ({email.key}): {reason}", refused=True)
            failed = OrderEvent(
                order_id=self.order_id,
                event="email_failed",
                detail=f"{kind.value} not sent after {attempts or 'its'} attempts: {reason}",
                actor="o2c",
                dedupe_key=f"email-failed:{email.key}",
            )
            await self.step(RECORD_EVENT, failed)

    # ------------------------------------------------------------------------------ waiting

    async def publish(self, flush: bool = False) -> None:
        """Current details follow every change; search attributes are upserted when the order is about to
        wait (``flush``), only where they differ: the changes of one burst of work become one event, and what
        operators filter on is current whenever the order rests."""
        today = workflow.now().date()
        status = self.book.current_status(today)
        due = self.book.due_date
        values: dict[str, Any] = {
            sa.ORDER_STATUS.name: status.value,
            sa.AMOUNT_DUE.name: float(from_minor(self.book.amount_due_minor, self.book.currency)),
            sa.DUNNING_LEVEL.name: self.book.dunning_level,
            sa.DUE_DATE.name: at_nine(due) if due else None,
        }
        if not self._published:
            values[sa.CUSTOMER_ID.name] = self.book.order.customer.id
        workflow.set_current_details(
            f"**{status.value}** · due {self.money(self.book.amount_due_minor)} · waiting for {self.waiting_for}"
        )
        if not flush:
            return
        updates = [
            key.value_set(value) if value is not None else key.value_unset()
            for key in sa.ALL_KEYS
            if key.name in values and self._published.get(key.name, "unset") != (value := values[key.name])
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published.update(values)

    async def sleep_until(self, wake: datetime | None, what: str, woken: Callable[[], bool]) -> bool:
        """Waits until ``woken()`` or the deadline; True when woken first."""
        await self.write_held_shipments()  # an order never rests on shipments the database has not seen
        await self.publish(flush=True)
        if wake is None:
            await workflow.wait_condition(woken)
            return True
        timeout = max(wake - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(woken, timeout=timeout, timeout_summary=what[:100])
        except TimeoutError:
            return False
        return True


def short(err: BaseException) -> str:
    text = str(err).replace("\n", "; ")
    return text[:300]
