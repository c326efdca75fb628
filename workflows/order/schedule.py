"""What happens next by itself, and when: the first-shipment alert, card retries, a promise falling due,
dunning steps, and a credit hold's reminder and expiry. Pure: the workflow sleeps until ``next_deadline``
says, then carries out its action; a unit test walks months of it without Temporal."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from models.policy import DunningStep, OrderPolicy
from workflows.order.book import OrderBook


class Due(StrEnum):
    FULFILLMENT_ALERT = "fulfillment_alert"
    CARD_RETRY = "card_retry"
    PROMISE_CHECK = "promise_check"
    DUNNING_STEP = "dunning_step"


@dataclass(frozen=True)
class Deadline:
    """Sleep until ``at`` (None: until a message), then do ``due`` (None: nothing, wait again)."""

    at: datetime | None
    waiting_for: str
    due: Due | None = None
    invoice_number: str = ""
    step: DunningStep | None = None


def at_nine(day: date) -> datetime:
    """Timers for a day fire at 09:00 UTC, a working hour for the people they reach."""
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


@dataclass
class Schedule:
    """The order's timers and what they have already done."""

    policy: OrderPolicy = field(default_factory=OrderPolicy)
    steps_done: set[str] = field(default_factory=set)  # "{invoice}:{step}"
    card_retries: dict[str, list[datetime]] = field(default_factory=dict)  # invoice -> when to try again
    promises_checked: set[date] = field(default_factory=set)
    fulfillment_alerted: bool = False

    def next_deadline(self, book: OrderBook, approved_at: datetime) -> Deadline:
        if not book.anything_shipped and not self.fulfillment_alerted:
            return Deadline(approved_at + self.policy.fulfillment_alert, "the first shipment", Due.FULFILLMENT_ALERT)
        if book.open_disputes:
            return Deadline(None, "finance: resolve_dispute (dunning paused)")
        dunning = self._next_dunning(book)
        retry = min(((times[0], number) for number, times in self.card_retries.items() if times), default=None)
        if retry is not None and (dunning.at is None or retry[0] <= dunning.at):
            at, number = retry
            return Deadline(at, f"card retry for {number} on {at.date()}", Due.CARD_RETRY, number)
        return dunning

    def _next_dunning(self, book: OrderBook) -> Deadline:
        invoice = book.oldest_open_invoice()
        if invoice is None:
            return Deadline(None, "shipments (shipment_dispatched)")
        promise = book.promise
        if promise is not None and promise.promised_date not in self.promises_checked:
            check_on = promise.promised_date + timedelta(days=self.policy.dunning.promise_grace_days)
            return Deadline(at_nine(check_on), f"payment promised for {promise.promised_date}", Due.PROMISE_CHECK)
        for step in self.policy.dunning.steps:
            if f"{invoice.number}:{step.name}" in self.steps_done:
                continue
            on = invoice.issued.due_date + timedelta(days=step.offset_days)
            if promise is not None and on <= promise.promised_date:
                continue
            what = f"payment of {invoice.number} (next: {step.name} reminder on {on})"
            return Deadline(at_nine(on), what, Due.DUNNING_STEP, invoice.number, step)
        return Deadline(None, f"payment of {invoice.number} or finance: write_off (dunning finished)")

    def step_done(self, invoice_number: str, step: DunningStep) -> None:
        self.steps_done.add(f"{invoice_number}:{step.name}")

    def escalation(self) -> DunningStep:
        """The step a broken promise jumps to: the policy's last."""
        return self.policy.dunning.steps[-1]

    # ------------------------------------------------------------------------------ card retries

    def plan_card_retries(self, invoice_number: str, declined_at: datetime) -> None:
        """A soft decline: the card is tried again on the policy's days after it."""
        self.card_retries[invoice_number] = [declined_at + timedelta(days=d) for d in self.policy.card_retry_days]

    def next_card_retry(self, invoice_number: str) -> datetime | None:
        retries = self.card_retries.get(invoice_number, [])
        return retries[0] if retries else None

    def take_card_retry(self, invoice_number: str) -> int:
        """The retry now due, consumed; its number (1 for the first)."""
        retries = self.card_retries.get(invoice_number, [])
        if retries:
            retries.pop(0)
        return len(self.policy.card_retry_days) - len(retries)

    def stop_card_retries(self, invoice_number: str) -> None:
        self.card_retries.pop(invoice_number, None)


@dataclass
class CreditHold:
    """A hold waits for finance until it expires; finance is reminded once, part-way."""

    expires: datetime
    reminder: datetime

    @classmethod
    def starting(cls, now: datetime, policy: OrderPolicy) -> "CreditHold":
        return cls(expires=now + policy.credit_hold_expiry, reminder=now + policy.credit_hold_reminder)

    def next_wake(self) -> tuple[datetime, bool]:
        """When to wake next, and whether that is the reminder (else the expiry)."""
        if self.reminder <= self.expires:
            return self.reminder, True
        return self.expires, False

    def reminded(self) -> None:
        self.reminder = self.expires + timedelta(days=1)
