"""The order's state, its refusal rules and its schedule, alone: no Temporal, no database, milliseconds.

The workflow asks these for every decision and every timer, so months of an order's life are checked here
step by step; tests/test_order_process.py runs the same workflow with fake activities."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from models.activity_io import InvoiceIssued
from models.contract import (
    ApproveCredit,
    OpenDispute,
    OrderStatus,
    PromiseToPay,
    ResolveDispute,
    ShipmentDispatched,
    ShippedLine,
    WriteOff,
)
from models.policy import DEFAULT_DUNNING, DunningPolicy, OrderPolicy
from tests.support import sample_order
from workflows.order import rules
from workflows.order.book import DisputeState, OrderBook
from workflows.order.schedule import CreditHold, Due, Schedule, at_nine

DUE = date(2026, 12, 25)
APPROVED = datetime(2026, 11, 25, 9, tzinfo=UTC)


def invoiced_book(currency: str = "USD", total_minor: int = 4948) -> OrderBook:
    book = OrderBook(order=sample_order(currency=currency, lines=[("WIDGET", 2, "20")]))
    book.status = OrderStatus.AWAITING_SHIPMENT
    book.accept_shipment(shipment("S1", 2))
    issued = InvoiceIssued(
        number="INV-2026-000001",
        total_minor=total_minor,
        issued_on=DUE - timedelta(days=30),
        due_date=DUE,
        payment_reference="RF18000001",
        discount_minor=0,
        discount_until=None,
    )
    book.add_invoice(issued, ["S1"])
    return book


def shipment(shipment_id: str, quantity: int, tracking: str = "1Z") -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id=shipment_id,
        lines=[ShippedLine(sku="WIDGET", quantity=quantity)],
        carrier="UPS",
        tracking_number=tracking,
    )


# ---------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("currency", "amount", "refused"),
    [
        ("USD", "1.001", "more decimals than USD allows (2)"),
        ("JPY", "10.5", "more decimals than JPY allows (0)"),
        ("KWD", "1.0001", "more decimals than KWD allows (3)"),
        ("USD", "1" + "0" * 14, "beyond any plausible order"),
        ("USD", "12.5", None),
        ("KWD", "1.250", None),
    ],
)
def test_an_amount_is_judged_in_the_order_currency(currency: str, amount: str, refused: str | None) -> None:
    book = invoiced_book(currency, total_minor=10**15)
    refusal = rules.refuse_amount(book, Decimal(amount))
    assert (refusal is None) if refused is None else (refused in (refusal or ""))


def test_every_decision_with_an_amount_refuses_one_the_currency_cannot_carry() -> None:
    book = invoiced_book()
    book.disputes["D1"] = DisputeState("D1", 1000, "damaged", "ar")
    bad = Decimal("1.001")
    today = DUE - timedelta(days=10)
    assert "more decimals" in (
        rules.refuse_dispute(book, OpenDispute(by="ar", dispute_id="D2", amount=bad, reason="x" * 3)) or ""
    )
    resolve = ResolveDispute(by="ar", dispute_id="D1", outcome="credit_note", amount=bad)
    assert "more decimals" in (rules.refuse_resolution(book, resolve) or "")
    promise = PromiseToPay(by="ar", promised_date=today + timedelta(days=3), amount=bad)
    assert "more decimals" in (rules.refuse_promise(book, promise, today) or "")
    write_off = WriteOff(by="ar", approved_by="cfo", reason="small balance", amount=bad)
    assert "more decimals" in (rules.refuse_write_off(book, write_off, 4) or "")


def test_a_write_off_before_the_final_notice_needs_another_person_to_approve() -> None:
    book = invoiced_book()
    level = DEFAULT_DUNNING.write_off_from
    assert level == 4  # the final notice: the last step that reminds the customer
    alone = WriteOff(by="ar", reason="small balance")
    assert "needs a finance manager's approval" in (rules.refuse_write_off(book, alone, level) or "")
    same = WriteOff(by="ar", approved_by="AR", reason="small balance")
    assert "someone other than" in (rules.refuse_write_off(book, same, level) or "")
    assert rules.refuse_write_off(book, WriteOff(by="ar", approved_by="cfo", reason="small balance"), level) is None
    book.dunning_level = 4
    assert rules.refuse_write_off(book, alone, level) is None
    explicit = DunningPolicy(steps=DEFAULT_DUNNING.steps, write_off_level=5)
    assert rules.refuse_write_off(book, alone, explicit.write_off_from) is not None


def test_a_refusal_quotes_the_status_the_order_has_now() -> None:
    book = invoiced_book()
    assert rules.refuse_credit_decision(book, DUE - timedelta(days=1)) == (
        "the order is not on credit hold (it is INVOICED)"
    )
    assert rules.refuse_credit_decision(book, DUE + timedelta(days=1)) == (
        "the order is not on credit hold (it is OVERDUE)"
    )
    book.status = OrderStatus.CREDIT_HOLD
    assert rules.refuse_credit_decision(book, DUE) is None
    assert ApproveCredit(by="cfo").by == "cfo"


def test_a_dispute_may_not_exceed_what_is_due_and_not_yet_disputed() -> None:
    book = invoiced_book()
    assert (
        rules.refuse_dispute(book, OpenDispute(by="ar", dispute_id="D1", amount=Decimal("49.48"), reason="all")) is None
    )
    book.disputes["D1"] = DisputeState("D1", 4000, "most", "ar")
    too_much = OpenDispute(by="ar", dispute_id="D2", amount=Decimal("9.49"), reason="the rest")
    assert rules.refuse_dispute(book, too_much) == "the disputed amount is larger than what is due and not yet disputed"


def test_a_shipment_id_repeated_with_other_content_is_told_apart_from_a_redelivery() -> None:
    book = OrderBook(order=sample_order())
    book.shipments["S1"] = shipment("S1", 1)
    assert not book.repeats_differently(shipment("S1", 1))
    assert book.repeats_differently(shipment("S1", 2))
    assert book.repeats_differently(shipment("S1", 1, tracking="1Z-OTHER"))


# ------------------------------------------------------------------------------------- schedule


def walk(schedule: Schedule, book: OrderBook, days: int) -> list[tuple[date, str]]:
    """Follows the schedule as the workflow would for ``days``, doing each dunning step it names."""
    done: list[tuple[date, str]] = []
    end = APPROVED + timedelta(days=days)
    while True:
        deadline = schedule.next_deadline(book, APPROVED)
        if deadline.at is None or deadline.at > end:
            return done
        if deadline.due is Due.FULFILLMENT_ALERT:
            schedule.fulfillment_alerted = True
        elif deadline.due is Due.DUNNING_STEP:
            assert deadline.step is not None
            schedule.step_done(deadline.invoice_number, deadline.step)
            book.dunning_level = max(book.dunning_level, deadline.step.level)
            done.append((deadline.at.date(), deadline.step.name))
        elif deadline.due is Due.PROMISE_CHECK:
            assert book.promise is not None
            schedule.promises_checked.add(book.promise.promised_date)
            book.promise = None
            done.append((deadline.at.date(), "promise checked"))
        elif deadline.due is Due.CARD_RETRY:
            schedule.take_card_retry(deadline.invoice_number)
            done.append((deadline.at.date(), "card retry"))


def test_dunning_follows_the_policy_offsets_from_the_due_date() -> None:
    book = invoiced_book()
    schedule = Schedule(policy=OrderPolicy())
    steps = walk(schedule, book, days=120)
    assert steps == [(DUE + timedelta(days=s.offset_days), s.name) for s in DEFAULT_DUNNING.steps]
    assert book.dunning_level == 5
    assert schedule.next_deadline(book, APPROVED).waiting_for.endswith("(dunning finished)")


def test_no_reminder_falls_inside_a_promise_and_the_promise_is_checked_after_its_grace() -> None:
    book = invoiced_book()
    promised = DUE + timedelta(days=10)
    book.promise = PromiseToPay(by="ar", promised_date=promised, amount=Decimal("49.48"))
    schedule = Schedule(policy=OrderPolicy())
    first = schedule.next_deadline(book, APPROVED)
    assert (first.due, first.at) == (Due.PROMISE_CHECK, at_nine(promised + timedelta(days=2)))
    schedule.promises_checked.add(promised)  # checked, and still open: the promise stays on the book
    after = schedule.next_deadline(book, APPROVED)
    assert after.due is Due.DUNNING_STEP and after.step is not None and after.step.name == "third"  # +14
    assert after.at is not None and after.at.date() > promised


def test_an_open_dispute_pauses_everything_and_the_first_shipment_alert_comes_first() -> None:
    fresh = OrderBook(order=sample_order())
    schedule = Schedule(policy=OrderPolicy())
    first = schedule.next_deadline(fresh, APPROVED)
    assert (first.due, first.at) == (Due.FULFILLMENT_ALERT, APPROVED + timedelta(days=14))
    book = invoiced_book()
    book.disputes["D1"] = DisputeState("D1", 100, "damaged", "ar")
    paused = schedule.next_deadline(book, APPROVED)
    assert paused.at is None and "dunning paused" in paused.waiting_for


def test_card_retries_come_before_a_later_reminder_and_are_numbered() -> None:
    book = invoiced_book()
    schedule = Schedule(policy=OrderPolicy(), steps_done={"INV-2026-000001:pre-due"})
    declined = at_nine(DUE - timedelta(days=30))
    schedule.plan_card_retries("INV-2026-000001", declined)
    nxt = schedule.next_deadline(book, APPROVED)
    assert (nxt.due, nxt.at) == (Due.CARD_RETRY, declined + timedelta(days=1))
    assert [schedule.take_card_retry("INV-2026-000001") for _ in range(3)] == [1, 2, 3]
    assert schedule.next_card_retry("INV-2026-000001") is None


def test_a_credit_hold_reminds_once_then_expires() -> None:
    hold = CreditHold.starting(APPROVED, OrderPolicy())
    assert hold.next_wake() == (APPROVED + timedelta(days=2), True)
    hold.reminded()
    assert hold.next_wake() == (APPROVED + timedelta(days=7), False)
