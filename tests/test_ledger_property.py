"""The ledger over random order lifecycles (hypothesis): orders in currencies with 0, 2 and 3 decimals,
invoiced, paid in part, in full, over and with the early-payment discount, credited, written off, charged
late fees, and paid through bank receipts applied by cash application, each step sometimes retried.
After every step: each currency's trial balance is zero, receivables equal the open invoices, unapplied
cash equals the money received and not yet applied, and no journal was written twice."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities import build_activities, ledger
from activities.receipts import apply_by_hand, store_statement
from models.activity_io import (
    AdjustBalance,
    AdjustmentKind,
    ApplyPayment,
    IssueCharge,
    IssueInvoice,
    RecordOrder,
    RecordShipment,
)
from models.contract import PaymentChannel, PaymentReceived, PaymentTerms
from models.money import from_minor
from models.policy import OrderPolicy
from models.tables import Invoice, LedgerEntry
from o2c.cash.statements import parse_statement
from o2c.config import Settings
from o2c.db import make_engine, migrate, transaction
from tests.books import check_books
from tests.support import Database, RecordingSendGrid, sample_order
from tests.test_workflow_paths import ship_all

PRICES = {"USD": "19.99", "JPY": "2400", "KWD": "4.125"}


@pytest.fixture(scope="module")
def activities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Callable[..., Any]]]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('ledger')) / 'o2c.db'}"
    engine = make_engine(url)
    migrate(engine)
    built = build_activities(
        Settings(database_url=url),
        engine,
        OrderPolicy(),
        sendgrid=RecordingSendGrid(),
        stripe_api=SimpleNamespace(v1=None),
    )
    yield engine, {fn.__name__: fn for fn in built}
    engine.dispose()


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "pay", "credit_note", "write_off", "late_fee", "bank", "retry"]),
        st.integers(1, 150),  # percent of what is open
    ),
    min_size=1,
    max_size=7,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(currency=st.sampled_from(sorted(PRICES)), discount=st.booleans(), steps=STEPS)
def test_books_balance_through_any_lifecycle(
    activities: tuple[Any, dict[str, Callable[..., Any]]], currency: str, discount: bool, steps: list[tuple[str, int]]
) -> None:
    engine, act = activities
    env = ActivityEnvironment()
    terms = (
        PaymentTerms(net_days=30, discount_percent=Decimal(2), discount_days=10)
        if discount
        else PaymentTerms(net_days=30)
    )
    order = sample_order(currency=currency, lines=[("WIDGET", 3, PRICES[currency])], payment_terms=terms)
    today = date.today()
    env.run(act["record_order"], RecordOrder(order=order, placed_at=datetime.now(UTC)))
    env.run(
        act["record_shipment"],
        RecordShipment(order_id=order.order_id, shipment=ship_all([("WIDGET", 3)]), exception=None),
    )
    issue = IssueInvoice(order_id=order.order_id, invoice_key="all", shipment_ids=["S1"], issued_on=today)
    invoice = env.run(act["issue_invoice"], issue)
    check_books(engine)
    last: tuple[Callable[..., Any], Any] | None = None
    for n, (kind, percent) in enumerate(steps):
        with Session(engine) as session:
            open_minor = session.exec(
                select(func.coalesce(func.sum(Invoice.open_minor), 0)).where(Invoice.order_id == order.order_id)
            ).one()
        amount = max(1, open_minor * percent // 100)
        key = f"{order.order_id}-{n}"
        if kind == "retry" and last is not None:
            env.run(*last)  # an activity retried after it had done its work
        elif kind == "pay":
            last = (
                act["apply_payment"],
                ApplyPayment(order_id=order.order_id, payment=_payment(key, amount, currency)),
            )
            env.run(*last)
        elif kind in ("credit_note", "write_off") and open_minor:
            adjust = AdjustBalance(
                order_id=order.order_id,
                kind=AdjustmentKind(kind),
                amount_minor=min(amount, open_minor),
                reason="property test",
                actor="test",
                dedupe_key=key,
            )
            last = (act["adjust_balance"], adjust)
            env.run(*last)
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
            last = (act["issue_charge"], charge)
            env.run(*last)
        elif kind == "bank":
            last = _bank_receipt(engine, act, env, order.order_id, key, amount, currency)
        check_books(engine)
    assert invoice.number


def _payment(payment_id: str, amount_minor: int, currency: str) -> PaymentReceived:
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
) -> tuple[Callable[..., Any], Any]:
    """A statement line arrives (booked to unapplied cash) and finance applies part of it to the order."""
    row = f"{date.today()},{from_minor(amount, currency)},{currency},{key} {uuid.uuid4().hex}"
    text = f"date,amount,currency,remittance\n{row}\n"
    statement = parse_statement(text.encode())
    store_statement(engine, statement, "test")
    check_books(engine)
    application = apply_by_hand(engine, statement.lines[0].id, order_id, max(1, amount * 2 // 3), "test", "", key)
    payment = _payment(application.payment_id, application.amount_minor, currency)
    call = (act["apply_payment"], ApplyPayment(order_id=order_id, payment=payment))
    env.run(*call)
    return call


def test_posted_lines_cannot_be_changed_or_deleted(database: Database) -> None:
    with transaction(database.engine) as session:
        ledger.transfer(session, "test:1", "USD", 100, ledger.CASH, ledger.UNAPPLIED_CASH)
    for statement in ("UPDATE ledger_entries SET debit_minor = 1", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="immutable"), transaction(database.engine) as session:
            session.execute(text(statement))
    with Session(database.engine) as session:
        assert len(session.exec(select(LedgerEntry)).all()) == 2
