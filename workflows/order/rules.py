"""The rules that refuse a finance decision, one function per decision. Pure: a signal and an update of the
same name ask the same rule, so they refuse alike, and a refused signal leaves its reason on the timeline."""

from datetime import date
from decimal import Decimal

from models.contract import AddCharge, OpenDispute, OrderStatus, PromiseToPay, ResolveDispute, WriteOff
from models.money import MoneyError
from workflows.order.book import PROMISE_HORIZON, OrderBook


def refuse_amount(book: OrderBook, amount: Decimal | None, what: str = "the amount") -> str | None:
    """An amount that is no money in the order's currency (more decimals than it has, beyond what we
    carry) is refused here, before any rule converts it: in the run loop it would fail every task."""
    if amount is None:
        return None
    try:
        book.minor(amount)
    except MoneyError as exc:
        return f"{what}: {exc}"
    return None


def refuse_credit_decision(book: OrderBook, today: date) -> str | None:
    if book.status is not OrderStatus.CREDIT_HOLD:
        return f"the order is not on credit hold (it is {book.current_status(today).value})"
    return None


def refuse_dispute(book: OrderBook, command: OpenDispute) -> str | None:
    if refusal := refuse_amount(book, command.amount, "the disputed amount"):
        return refusal
    if book.is_closed:
        return f"the order is already {book.status.value}"
    if command.dispute_id in book.disputes:
        return f"dispute {command.dispute_id} already exists"
    if book.amount_due_minor == 0:
        return "nothing is due on this order"
    if book.minor(command.amount) > book.amount_due_minor - book.disputed_minor:
        return "the disputed amount is larger than what is due and not yet disputed"
    return None


def refuse_resolution(book: OrderBook, command: ResolveDispute) -> str | None:
    if refusal := refuse_amount(book, command.amount):
        return refusal
    dispute = book.disputes.get(command.dispute_id)
    if dispute is None or dispute.status != "open":
        return f"there is no open dispute {command.dispute_id}"
    if command.amount is not None and book.minor(command.amount) > dispute.amount_minor:
        return "the amount is larger than the disputed amount"
    return None


def refuse_promise(book: OrderBook, command: PromiseToPay, today: date) -> str | None:
    if refusal := refuse_amount(book, command.amount, "the promised amount"):
        return refusal
    if book.is_closed or book.amount_due_minor == 0:
        return "nothing is due on this order"
    if command.promised_date < today:
        return "the promised date is in the past"
    if command.promised_date > today + PROMISE_HORIZON:
        return "a promise more than 180 days ahead is not a promise to pay"
    if book.minor(command.amount) > book.amount_due_minor:
        return "the promised amount is larger than what is due"
    return None


def refuse_cancel(book: OrderBook) -> str | None:
    if book.is_closed:
        return f"the order is already {book.status.value}"
    if book.cancelled is not None:
        return "the order is already being cancelled"
    if book.anything_shipped or book.invoices:
        return "goods have shipped; resolve with a credit note or a write-off instead"
    return None


def refuse_charge(book: OrderBook, command: AddCharge) -> str | None:
    if refusal := refuse_amount(book, command.amount, "the charge"):
        return refusal
    if book.is_closed or book.cancelled is not None:
        return f"the order is already {book.status.value if book.is_closed else 'being cancelled'}"
    if book.status in (OrderStatus.PENDING, OrderStatus.CREDIT_HOLD):
        return "the order is not approved yet"
    if command.charge_id in book.charge_ids:
        return f"charge {command.charge_id} already exists"
    if not book.invoices:
        return "nothing is invoiced yet: a charge goes on an invoice of its own after the first one"
    if book.settled:
        return "the order is settled"
    return None


def refuse_write_off(book: OrderBook, command: WriteOff, write_off_level: int) -> str | None:
    """Finance writes off alone once dunning reached the policy's write-off level (the final notice by
    default); before that, a finance manager other than the requester approves."""
    if refusal := refuse_amount(book, command.amount):
        return refusal
    if book.amount_due_minor == 0:
        return "nothing is due on this order"
    if command.amount is not None and book.minor(command.amount) > book.amount_due_minor:
        return "the amount is larger than what is due"
    if book.dunning_level < write_off_level:
        if command.approved_by is None:
            return (
                f"dunning is at level {book.dunning_level}; a write-off before level {write_off_level} "
                "needs a finance manager's approval (approved_by)"
            )
        if command.approved_by.casefold() == command.by.casefold():
            return "a write-off is approved by someone other than the person who asks for it"
    return None
