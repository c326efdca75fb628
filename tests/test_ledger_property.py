"""The books over random order lifecycles (hypothesis).

On the activities: orders in currencies with 0, 2 and 3 decimals, invoiced, paid in part, in full, over,
twice under two payment ids and with the early-payment discount, credited, written off, charged late fees,
and paid through bank receipts applied by cash application, each step sometimes retried. On the workflow:
payments before the invoice, after it, over it, twice under two ids and delivered twice, and orders
cancelled with money already received.

After every step (``tests/books.py``): each currency's trial balance is zero, receivables equal the open
invoices, every money event has exactly one journal and every journal its event, and every amount the
customers paid is received, and then applied, queued for cash application or refunded. Against the test's
own record of what it asked for: one payment per payment id, one invoice per invoice key, credit notes and
write-offs per dedupe key adding up to what was asked once (a retry issuing a second one under a new
number shows), one email per key."""

import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import ledger
from activities.cash_application import apply_by_hand, store_statement
from activities.registry import build_activities
from models.activity_io import (
    AdjustBalance,
    AdjustmentKind,
    ApplyPayment,
    IssueCharge,
    IssueInvoice,
    RecordOrder,
    RecordShipment,
)
from models.contract import OrderStatus, PaymentChannel, PaymentReceived, PaymentTerms
from models.money import from_minor, to_minor
from models.policy import OrderPolicy
from models.tables import BalanceAdjustment, CashReceipt, CreditNote, Invoice, LedgerEntry, Payment
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.platform.db import make_engine, migrate, transaction
from o2c.statements import parse_statement
from tests.books import check_books, journal_diff, money_diff
from tests.harness import eventually, running_worker
from tests.support import Database, RecordingSendGrid, sample_order
from tests.test_workflow_paths import ship_all

PRICES = {"USD": "19.99", "JPY": "2400", "KWD": "4.125"}
LINK_SECRET = "ledger-property-test-link-secret"
ALL = [("WIDGET", 2), ("GADGET", 1)]  # sample_order's lines
TOTAL = 4948  # and their total, 49.48 USD with tax


def _settings(url: str) -> Settings:
    return Settings(database_url=url, payment_link_secret=LINK_SECRET)


@dataclass
class Asked:
    """What the test asked of the books, to hold them to: money paid in per currency, and the order's
    payments, invoice keys and adjustments (amount per dedupe key)."""

    paid_in: Counter[str] = field(default_factory=Counter)
    payments: dict[str, int] = field(default_factory=dict)
    invoice_keys: set[str] = field(default_factory=set)
    credit_notes: dict[str, int] = field(default_factory=dict)
    write_offs: dict[str, int] = field(default_factory=dict)

    def paid(self, payment_id: str, amount: int, currency: str) -> None:
        if payment_id not in self.payments:
            self.paid_in[currency] += amount
        self.payments[payment_id] = amount


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database that each example copies: an example's books are its own, so a failure is
    reported on the example that caused it, not on every one after it."""
    path = tmp_path_factory.mktemp("ledger") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@contextmanager
def fresh_books(template: Path) -> Iterator[tuple[Any, dict[str, Callable[..., Any]]]]:
    path = template.with_name(f"{uuid.uuid4().hex}.db")
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    built = build_activities(
        _settings(url), engine, OrderPolicy(), sendgrid=RecordingSendGrid(), stripe_api=SimpleNamespace(v1=None)
    )
    try:
        yield engine, {fn.__name__: fn for fn in built}
    finally:
        engine.dispose()
        path.unlink()


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "pay", "pay_again", "credit_note", "write_off", "late_fee", "bank", "retry"]),
        st.integers(1, 150),  # percent of what is open (over 100: paid over)
    ),
    min_size=1,
    max_size=7,
)


@settings(max_examples=25, deadline=None)
@given(currency=st.sampled_from(sorted(PRICES)), discount=st.booleans(), steps=STEPS)
@example(currency="USD", discount=False, steps=[("pay", 120)])  # paid over what is due
@example(currency="JPY", discount=False, steps=[("pay", 100), ("pay_again", 100)])  # paid twice, two ids
@example(currency="KWD", discount=True, steps=[("bank", 150), ("retry", 1)])  # a receipt worth more than due
def test_books_balance_through_any_lifecycle(
    template: Path, currency: str, discount: bool, steps: list[tuple[str, int]]
) -> None:
    with fresh_books(template) as (engine, act):
        _lifecycle(engine, act, currency, discount, steps)


def _lifecycle(
    engine: Any, act: dict[str, Callable[..., Any]], currency: str, discount: bool, steps: list[tuple[str, int]]
) -> None:
    env = ActivityEnvironment()
    terms = (
        PaymentTerms(net_days=30, discount_percent=Decimal(2), discount_days=10)
        if discount
        else PaymentTerms(net_days=30)
    )
    order = sample_order(currency=currency, lines=[("WIDGET", 3, PRICES[currency])], payment_terms=terms)
    asked = Asked(invoice_keys={"all"})
    paid_in = asked.paid_in
    today = date.today()
    env.run(act["record_order"], RecordOrder(order=order, placed_at=datetime.now(UTC)))
    env.run(
        act["record_shipment"],
        RecordShipment(order_id=order.order_id, shipment=ship_all([("WIDGET", 3)]), exception=None),
    )
    issue = IssueInvoice(order_id=order.order_id, invoice_key="all", shipment_ids=["S1"], issued_on=today)
    invoice = env.run(act["issue_invoice"], issue)
    check_books(engine, paid_in)
    last: Callable[[], Any] | None = None
    for n, (kind, percent) in enumerate(steps):
        with Session(engine) as session:
            open_minor = session.exec(
                select(func.coalesce(func.sum(Invoice.open_minor), 0)).where(Invoice.order_id == order.order_id)
            ).one()
        amount = max(1, open_minor * percent // 100)
        key = f"{order.order_id}-{n}"
        if kind == "retry" and last is not None:
            last()  # a step retried after it had done its work
        elif kind in ("pay", "pay_again"):
            # pay_again: the customer pays the whole invoice once more, under a payment id of its own.
            amount = invoice.total_minor if kind == "pay_again" else amount
            last = _runs(
                env, act["apply_payment"], ApplyPayment(order_id=order.order_id, payment=_pay(key, amount, currency))
            )
            last()
            asked.paid(key, amount, currency)
        elif kind in ("credit_note", "write_off") and open_minor:
            adjust = AdjustBalance(
                order_id=order.order_id,
                kind=AdjustmentKind(kind),
                amount_minor=min(amount, open_minor),
                reason="property test",
                actor="test",
                dedupe_key=key,
            )
            last = _runs(env, act["adjust_balance"], adjust)
            last()
            (asked.credit_notes if kind == "credit_note" else asked.write_offs)[key] = adjust.amount_minor
        elif kind == "late_fee":
            charge = IssueCharge(
                order_id=order.order_id,
                charge_key=key,
                description="late fee",
                amount_minor=amount % 5000 + 1,
                tax_rate_percent="0",
                reason="late",
                actor="dunning",
                issued_on=today,
            )
            last = _runs(env, act["issue_charge"], charge)
            last()
            asked.invoice_keys.add(key)
        elif kind == "bank":
            last = _bank_receipt(engine, act, env, order.order_id, key, amount, currency, asked)
            last()
        check_books(engine, paid_in)
        _as_asked(engine, order.order_id, asked)
    assert invoice.number


def _runs(env: ActivityEnvironment, activity: Callable[..., Any], request: Any) -> Callable[[], Any]:
    return lambda: env.run(activity, request)


def _pay(payment_id: str, amount_minor: int, currency: str) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=from_minor(amount_minor, currency),
        currency=currency,
        method=PaymentChannel.BANK_TRANSFER,
        received_at=datetime.now(UTC),
    )


def _bank_receipt(
    engine: Any,
    act: dict[str, Callable[..., Any]],
    env: ActivityEnvironment,
    order_id: str,
    key: str,
    amount: int,
    currency: str,
    asked: Asked,
) -> Callable[[], Any]:
    """A statement line arrives (booked to unapplied cash) and finance applies two thirds of it to the
    order, which may be more than is open; run again, the same file and the same request change nothing."""
    row = f"{date.today()},{from_minor(amount, currency)},{currency},{key} {uuid.uuid4().hex}"
    data = f"date,amount,currency,remittance\n{row}\n".encode()

    def receive_and_apply() -> None:
        statement = parse_statement(data)
        _, new = store_statement(engine, statement, "test")
        if new:
            asked.paid_in[currency] += amount
        check_books(engine, asked.paid_in)
        application = apply_by_hand(engine, statement.lines[0].id, order_id, max(1, amount * 2 // 3), "test", "", key)
        payment = _pay(application.payment_id, application.amount_minor, currency)
        env.run(act["apply_payment"], ApplyPayment(order_id=order_id, payment=payment))
        asked.payments[application.payment_id] = application.amount_minor

    return receive_and_apply


def _as_asked(engine: Any, order_id: str, asked: Asked) -> None:
    with Session(engine) as session:
        payments = {p.id: p.amount_minor for p in session.exec(select(Payment).where(Payment.order_id == order_id))}
        assert payments == asked.payments, "one payment per payment id, of the amount paid"
        keys = Counter(session.exec(select(Invoice.invoice_key).where(Invoice.order_id == order_id)).all())
        assert keys == Counter(asked.invoice_keys), "one invoice per invoice key"
        notes: Counter[str] = Counter()
        for dedupe_key, total in session.exec(
            select(CreditNote.dedupe_key, CreditNote.total_minor).where(CreditNote.order_id == order_id)
        ):
            notes[dedupe_key] += total
        assert notes == Counter(asked.credit_notes), "credit notes per dedupe key add up to what was asked once"
        written_off: Counter[str] = Counter()
        for dedupe_key, amount in session.exec(
            select(BalanceAdjustment.dedupe_key, BalanceAdjustment.amount_minor).where(
                BalanceAdjustment.order_id == order_id, BalanceAdjustment.kind == AdjustmentKind.WRITE_OFF.value
            )
        ):
            written_off[dedupe_key] += amount
        assert written_off == Counter(asked.write_offs), "write-offs per dedupe key add up to what was asked once"


# ------------------------------------------------------------------------------------- on the workflow


PAYMENTS = st.lists(
    st.tuples(st.sampled_from(["before", "after"]), st.integers(1, 150), st.booleans()),  # when, % of due, resent
    max_size=3,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payments=PAYMENTS, cancel=st.booleans())
@example(payments=[("before", 100, False)], cancel=True)  # paid before the invoice, then cancelled
@example(payments=[("after", 130, True)], cancel=False)  # paid over what is due, the signal delivered twice
@example(payments=[("before", 100, False), ("before", 100, False)], cancel=False)  # paid twice, two ids
async def test_every_payment_to_an_order_is_applied_queued_or_refunded(
    time_env: WorkflowEnvironment, tmp_path: Path, payments: list[tuple[str, int, bool]], cancel: bool
) -> None:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    engine = make_engine(url)
    migrate(engine)
    task_queue = f"ledger-{uuid.uuid4().hex[:8]}"
    order = sample_order()
    paid: dict[str, int] = {}
    try:
        async with running_worker(
            time_env.client, Database("sqlite", url, engine), task_queue, settings=_settings(url)
        ) as mail:
            o2c = O2CClient(time_env.client, task_queue)
            handle = await o2c.start_order(order)
            await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
            for n, (_, percent, resend) in enumerate(p for p in payments if p[0] == "before"):
                await _signal_payment(handle, f"{order.order_id}-B{n}", TOTAL * percent // 100 or 1, resend, paid)
            if cancel:
                await o2c.cancel_order(order.order_id, {"by": "test", "reason": "the customer changed their mind"})
            else:
                await o2c.ship(order.order_id, ship_all(ALL))
                await _pay_after_invoice(handle, order.order_id, [p for p in payments if p[0] == "after"], paid)
            outcome = await handle.result()
        assert outcome.status == (OrderStatus.CANCELLED if cancel else OrderStatus.PAID)
        check_books(engine, {"USD": sum(paid.values())})
        with Session(engine) as session:
            applied = set(session.exec(select(Payment.id)).all())
            queued = set(session.exec(select(CashReceipt.id).where(col(CashReceipt.id).in_(paid))).all())
            invoices = session.exec(select(Invoice.number)).all()
        assert not applied & queued and applied | queued == set(paid), "each payment booked, once"
        assert len(invoices) == (0 if cancel else 1)
        keys = Counter((m.get("custom_args") or {}).get("o2c_email_key") for m in mail.sent)
        assert set(keys.values()) <= {1}, f"an email sent twice: {keys}"
        assert sum(1 for k in keys if k and ":invoice:" in k) == len(invoices)
    finally:
        engine.dispose()


async def _signal_payment(
    handle: WorkflowHandle[Any, Any], payment_id: str, amount: int, resend: bool, paid: dict[str, int]
) -> None:
    payment = _pay(payment_id, amount, "USD")
    await handle.signal("payment_received", payment)
    paid[payment_id] = amount
    if resend:  # signals are delivered at least once; the order may have closed in between
        try:
            await handle.signal("payment_received", payment)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


async def _pay_after_invoice(
    handle: WorkflowHandle[Any, Any], order_id: str, payments: list[tuple[str, int, bool]], paid: dict[str, int]
) -> None:
    """Each payment a share of what is due once the earlier ones were applied; the rest, if any, last. None
    after the order is settled: it has closed."""
    for n, (_, percent, resend) in enumerate([*payments, ("after", 100, False)]):
        view = await eventually(
            handle,
            lambda s: bool(s.invoices) and all(_applied(s, p) for p in paid),
            "payments so far applied",
        )
        due = to_minor(view.totals.due, "USD")
        if due == 0:
            return
        await _signal_payment(handle, f"{order_id}-A{n}", max(1, due * percent // 100), resend, paid)


def _applied(view: Any, payment_id: str) -> bool:
    return any(e.event == "payment_applied" and e.detail.startswith(f"{payment_id}:") for e in view.timeline)


def test_the_journal_check_finds_a_second_posting_and_an_unbooked_payment(template: Path) -> None:
    """A payment posted again under a name of its own, and a payment recorded without its journal: the two
    ways one money event goes wrong that the unique (journal, line_no) cannot stop."""
    with fresh_books(template) as (engine, act):
        env = ActivityEnvironment()
        order = sample_order()
        env.run(act["record_order"], RecordOrder(order=order, placed_at=datetime.now(UTC)))
        shipped = RecordShipment(order_id=order.order_id, shipment=ship_all(ALL), exception=None)
        env.run(act["record_shipment"], shipped)
        issue = IssueInvoice(order_id=order.order_id, invoice_key="all", shipment_ids=["S1"], issued_on=date.today())
        env.run(act["issue_invoice"], issue)
        env.run(act["apply_payment"], ApplyPayment(order_id=order.order_id, payment=_pay("P1", TOTAL, "USD")))
        assert journal_diff(engine) == [] and money_diff(engine, {"USD": TOTAL}) == {}
        with transaction(engine) as session:
            ledger.transfer(session, "payment:P1:again", "USD", TOTAL, ledger.CASH, ledger.UNAPPLIED_CASH)
            session.add(
                Payment(
                    id="P2",
                    order_id=order.order_id,
                    amount_minor=700,
                    unapplied_minor=700,
                    currency="USD",
                    method="bank_transfer",
                    received_at=datetime.now(UTC),
                )
            )
        assert journal_diff(engine) == [
            "no journal payment:P2 for payment P2",
            "journal payment:P1:again has no money event",
        ]
        assert money_diff(engine, {"USD": TOTAL}) == {
            "USD": "USD: received 5648 (payments 5648, receipts 0) != applied 4948 + queue 0 + in transit 0 + "
            "refunded 0 = 4948: 700 not accounted for; customers paid 4948, the books received 5648"
        }


def test_posted_lines_cannot_be_changed_or_deleted(database: Database) -> None:
    with transaction(database.engine) as session:
        ledger.transfer(session, "test:1", "USD", 100, ledger.CASH, ledger.UNAPPLIED_CASH)
    for statement in ("UPDATE ledger_entries SET debit_minor = 1", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="immutable"), transaction(database.engine) as session:
            session.execute(text(statement))
    with Session(database.engine) as session:
        assert len(session.exec(select(LedgerEntry)).all()) == 2
