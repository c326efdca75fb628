"""Against localstripe over real HTTP: a fault-injecting proxy loses, fails and delays Stripe's answers and
the charge and the refund still happen exactly once; refunds of paid invoices on the real workflow."""

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlmodel import select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.cash_application.queue import open_receipts
from activities.payments import METADATA_KEY, PaymentActivities, RefundActivities, stripe_client
from models.activity_io import ChargeCard, RefundCard
from models.naming import refund_id
from models.tables import CardCharge, Customer, Invoice, LedgerEntry, Order, Payment, PaymentApplication, Refund
from o2c.client import InvalidInput, O2CClient
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from tests.faultproxy import (
    ERROR_500_AFTER,
    ERROR_500_BEFORE,
    PASS,
    RESET_AFTER,
    RESET_BEFORE,
    SLOW_AFTER,
    TOO_MANY,
    FaultProxy,
)
from tests.harness import keep_history, running_worker
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _stripe(base: str) -> stripe.StripeClient:
    return stripe_client(Settings(stripe_api_base=base))


def _card_order(db: Database, order_id: str, number: str, total_minor: int) -> None:
    """Customer C1 (a fresh email per test: localstripe is shared) with an open card invoice."""
    if _no_customer(db):
        add_customer(db, email=f"{order_id.lower()}@initech.example")
    add_order(db, order_id, total_minor)
    with transaction(db.engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.payment_method, order.stripe_payment_method = "card_on_file", "pm_card_visa"
        session.add(order)
    add_invoice(db, number, order_id, total_minor, date.today() + timedelta(days=30))


def _no_customer(db: Database) -> bool:
    with transaction(db.engine) as session:
        return session.get(Customer, "C1") is None


def _attempts(run: Any, limit: int = 12) -> tuple[Any, list[str]]:
    """Calls the activity as Temporal's retries would until it answers; the failures seen on the way."""
    failures: list[str] = []
    for _ in range(limit):
        try:
            return run(), failures
        except Exception as exc:  # what a real retry policy would retry
            failures.append(type(exc).__name__)
    raise AssertionError(f"no success after {limit} attempts: {failures}")


def _intents_with_key(api: stripe.StripeClient, key: str) -> list[dict[str, Any]]:
    listed = api.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    return [i.to_dict() for i in listed if (i.to_dict().get("metadata") or {}).get(METADATA_KEY) == key]


def test_faults_at_stripe_never_charge_twice(localstripe: str, database: Database) -> None:
    """Creating the customer is refused at once and then succeeds; the PaymentIntent is created but its
    answer lost (500); the lookups before the next attempts time out or are cut off. One customer, one
    charge, and the activity's answer is that charge."""
    order_id, number, key = f"F-{database.kind}", "INV-2026-000901", f"charge-F-{database.kind}-1"
    _card_order(database, order_id, number, 44_99)
    script = [RESET_BEFORE, PASS, PASS, ERROR_500_AFTER, SLOW_AFTER, RESET_AFTER, TOO_MANY]
    applies = lambda method, path: method == "POST" or "payment_intents" in path  # noqa: E731
    with FaultProxy(_port(localstripe), list(script), applies, slow_seconds=2.5) as proxy:
        api = stripe_client(Settings(stripe_api_base=proxy.url, stripe_timeout_seconds=1))
        activities = PaymentActivities(database.engine, api)
        request = ChargeCard(
            order_id=order_id, invoice_number=number, amount_minor=44_99, currency="USD", idempotency_key=key
        )
        outcome, failures = _attempts(lambda: ActivityEnvironment().run(activities.charge_card, request))
    direct = _stripe(localstripe)
    intents = _intents_with_key(direct, key)
    customers = [
        c for c in direct.v1.customers.list(params={"email": f"{order_id.lower()}@initech.example"}).auto_paging_iter()
    ]
    print(f"\ncharge through faults: {len(failures)} failed attempts {failures}, {proxy.faults_injected()} faults")
    assert proxy.faults_injected() == len([f for f in script if f != PASS])
    assert len(failures) == 5
    assert [i["status"] for i in intents] == ["succeeded"], "one PaymentIntent, charged once"
    assert len(customers) == 1, "the Stripe customer was linked, not created again"
    assert outcome.status == "succeeded" and outcome.payment_id == intents[0]["id"]
    with transaction(database.engine) as session:
        row = session.get(CardCharge, key)
        assert row is not None and row.status == "succeeded" and row.stripe_payment_intent == intents[0]["id"]
    # And once it is recorded, another attempt is answered from our row without calling Stripe.
    again = ActivityEnvironment().run(
        PaymentActivities(database.engine, _stripe("http://127.0.0.1:9")).charge_card, request
    )
    assert again == outcome


def _paid_by_card(db: Database, api: stripe.StripeClient, order_id: str, number: str, total_minor: int) -> str:
    """A paid invoice whose payment is a real succeeded PaymentIntent at localstripe."""
    _card_order(db, order_id, number, total_minor)
    customer = api.v1.customers.create(params={"email": f"{order_id.lower()}@initech.example"})
    intent = api.v1.payment_intents.create(
        params={"amount": total_minor, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa"}
    )
    intent = api.v1.payment_intents.confirm(intent.id)
    assert intent.status == "succeeded"
    _record_payment(db, number, intent.id, total_minor, "card")
    return str(intent.id)


def _record_payment(db: Database, number: str, payment_id: str, amount_minor: int, method: str) -> None:
    with transaction(db.engine) as session:
        invoice = session.get(Invoice, number)
        assert invoice is not None
        invoice.open_minor -= amount_minor
        invoice.status = "paid" if invoice.open_minor == 0 else "partially_paid"
        session.add(invoice)
        session.add(
            Payment(
                id=payment_id,
                order_id=invoice.order_id,
                customer_id="C1",
                amount_minor=amount_minor,
                unapplied_minor=0,
                currency="USD",
                method=method,
                received_at=datetime.now(UTC),
            )
        )
        session.flush()
        session.add(
            PaymentApplication(
                payment_id=payment_id, invoice_number=number, amount_minor=amount_minor, applied_at=datetime.now(UTC)
            )
        )


def test_a_lost_refund_answer_is_looked_up_not_refunded_again(localstripe: str, database: Database) -> None:
    api = _stripe(localstripe)
    order_id, number = f"RF-{database.kind}", "INV-2026-000951"
    intent = _paid_by_card(database, api, order_id, number, 30_00)
    key = f"CN-TEST-{database.kind}:{intent}"
    with transaction(database.engine) as session:
        session.add(
            Refund(
                key=key,
                order_id=order_id,
                invoice_number=number,
                payment_id=intent,
                amount_minor=12_50,
                currency="USD",
                status="pending",
                source="o2c",
                created_at=datetime.now(UTC),
            )
        )
    script = [ERROR_500_AFTER, RESET_AFTER, ERROR_500_BEFORE]
    with FaultProxy(_port(localstripe), list(script), lambda m, p: "refunds" in p) as proxy:
        activities = RefundActivities(database.engine, Settings(), _stripe(proxy.url))
        done, failures = _attempts(
            lambda: ActivityEnvironment().run(activities.refund_card, RefundCard(key=key, order_id=order_id))
        )
    refunds = [r.to_dict() for r in api.v1.refunds.list(params={"payment_intent": intent}).auto_paging_iter()]
    assert failures == ["APIError", "APIConnectionError", "APIError"]
    assert [(r["amount"], r["metadata"]["o2c_refund_key"]) for r in refunds] == [(12_50, key)]
    assert done.status == "succeeded" and done.stripe_refund_id == refunds[0]["id"]
    with transaction(database.engine) as session:
        journal = session.exec(select(LedgerEntry).where(LedgerEntry.journal == f"refund:{key}")).all()
    assert sorted((e.account, e.debit_minor, e.credit_minor) for e in journal) == [
        ("1000-cash", 0, 12_50),
        ("2100-unapplied-cash", 12_50, 0),
    ]


async def test_refund_of_a_paid_invoice_goes_back_to_the_card_once(
    time_env: WorkflowEnvironment, localstripe: str, database: Database, task_queue: str
) -> None:
    """Half the invoice was paid by card, half by bank transfer: a credit of 70 refunds the card's 50 and
    holds 20 as the customer's credit. The same request again refunds nothing more; asking for more
    than is left is refused before anything is written."""
    api = _stripe(localstripe)
    order_id, number = f"RW-{database.kind}", "INV-2026-000971"
    _card_order(database, order_id, number, 100_00)
    customer = api.v1.customers.create(params={"email": f"{order_id.lower()}@initech.example"})
    intent = api.v1.payment_intents.create(
        params={"amount": 50_00, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa"}
    )
    intent = api.v1.payment_intents.confirm(intent.id)
    _record_payment(database, number, f"BANK-{order_id}", 50_00, "bank_transfer")
    _record_payment(database, number, intent.id, 50_00, "card")
    settings = Settings(database_url=database.url, stripe_api_base=localstripe)
    async with running_worker(time_env.client, database, task_queue, stripe_api=api, settings=settings) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        request = {
            "order_id": order_id,
            "invoice_number": number,
            "amount": "70.00",
            "reason": "two of five items returned",
            "by": "finance@initech",
            "request_id": "return-1",
        }
        result = await o2c.refund_invoice(request)
        again = await o2c.refund_invoice(request)
        if database.kind == "sqlite":
            await keep_history(
                time_env.client.get_workflow_handle(refund_id(number, "return-1")), "refund_paid_invoice"
            )
        with pytest.raises(InvalidInput, match=r"more than the 30\.00"):
            await o2c.refund_invoice(request | {"request_id": "return-2", "amount": "30.01"})
    refunds = [r.to_dict() for r in api.v1.refunds.list(params={"payment_intent": intent.id}).auto_paging_iter()]
    assert [r["amount"] for r in refunds] == [50_00]
    assert again == result
    assert (result.refunded_minor, result.held_as_credit_minor) == (50_00, 20_00)
    assert [line.status for line in result.refunds] == ["succeeded"]
    with transaction(database.engine) as session:
        entries = session.exec(select(LedgerEntry).where(LedgerEntry.order_id == order_id)).all()
        rows = session.exec(select(Refund).where(Refund.order_id == order_id)).all()
    credit = sum(e.credit_minor - e.debit_minor for e in entries if e.account == "2100-unapplied-cash")
    assert credit == 20_00, "what was paid by bank transfer is held as the customer's credit"
    assert sorted((r.status, r.amount_minor) for r in rows) == [("held_as_credit", 20_00), ("succeeded", 50_00)]
    with transaction(database.engine) as session:
        queued = {r.id: r.unapplied_minor for r in open_receipts(session, customer_id=None) if r.source == "credit"}
    assert queued == {f"credit:{result.credit_note_number}": 20_00}, "the held credit is in the queue, once"
    subjects = mail.subjects()
    assert subjects.count(f"Credit note {result.credit_note_number} for invoice {number}") == 1
    assert subjects.count(f"Refund for invoice {number}") == 1


def test_localstripe_keeps_no_disk_copy(localstripe: str) -> None:
    """o2c.devtools.fakestripe starts localstripe without its pickle of the whole store after every write (O(store)
    per request, and one file for every localstripe on the machine)."""
    copy = Path("/tmp/localstripe.pickle")
    before = copy.stat().st_mtime_ns if copy.exists() else None
    client = stripe_client(Settings(stripe_api_base=localstripe))
    created = client.v1.customers.create(params={"email": "disk@example.com"})
    assert client.v1.customers.retrieve(created.id).email == "disk@example.com"
    assert (copy.stat().st_mtime_ns if copy.exists() else None) == before


LISTS_WITHOUT_SCAN = """
from localstripe import resources
from o2c.devtools import fakestripe

fakestripe.install()


def scan(self):
    raise AssertionError("a list scanned the whole store")


resources.Store.items = scan
first = resources.Customer._api_create(email="first@example.com")
second = resources.Customer._api_create(email="second@example.com")
resources.Product._api_create(name="not a customer")
assert [c.id for c in resources.Customer._api_list_all("/v1/customers")._list] == [first.id, second.id]
resources.Customer._api_delete(first.id)
assert [c.id for c in resources.Customer._api_list_all("/v1/customers")._list] == [second.id]
resources.store.clear()
assert resources.Customer._api_list_all("/v1/customers")._list == []
"""


def test_localstripe_lists_a_kind_without_scanning_the_store() -> None:
    """Exporting a charge lists refunds: scanning the store for them made every PaymentIntent cost time in
    proportion to all created before it. The index gives what the scan gave, in the same order, and follows
    deletes and the flush of the store (its own process: the patch is for the whole interpreter)."""
    run = subprocess.run([sys.executable, "-c", LISTS_WITHOUT_SCAN], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


async def test_a_refund_stripe_refuses_is_held_as_credit_in_the_queue(
    time_env: WorkflowEnvironment, localstripe: str, database: Database, task_queue: str
) -> None:
    """The card payment is one Stripe does not know (a refund is refused for good): the credit note's money
    stays the customer's, and finance sees it in the exception queue, once."""
    api = _stripe(localstripe)
    order_id, number = f"RF-{database.kind}", "INV-2026-000972"
    _card_order(database, order_id, number, 40_00)
    _record_payment(database, number, "pi_unknown_to_stripe", 40_00, "card")
    settings = Settings(database_url=database.url, stripe_api_base=localstripe)
    async with running_worker(time_env.client, database, task_queue, stripe_api=api, settings=settings):
        request = {
            "order_id": order_id,
            "invoice_number": number,
            "amount": "15.00",
            "reason": "one item returned",
            "by": "finance@initech",
            "request_id": "return-9",
        }
        result = await O2CClient(time_env.client, task_queue).refund_invoice(request)
    assert [line.status for line in result.refunds] == ["failed"] and result.held_as_credit_minor == 15_00
    with transaction(database.engine) as session:
        queued = [(r.source, r.unapplied_minor, r.customer_id) for r in open_receipts(session)]
        entries = session.exec(select(LedgerEntry).where(LedgerEntry.order_id == order_id)).all()
    assert queued == [("credit", 15_00, "C1")]
    held = sum(e.credit_minor - e.debit_minor for e in entries if e.account == "2100-unapplied-cash")
    assert held == 15_00, "what the queue shows is what unapplied cash holds"
