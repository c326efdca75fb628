"""Collections in the time-skipping environment: reminders at the right time with the right amount, pauses
and promises, late fees, escalation, per-segment policies, statements, and policy files refused clearly."""

import base64
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.collections import LateFeeActivities
from models import search_attributes as sa
from models.activity_io import RaiseLateFee
from models.contract import OrderStatus, PaymentChannel, PaymentReceived, ShipmentDispatched, ShippedLine
from models.invoicing import late_fee_minor
from models.policy import DEFAULT_DUNNING, CreditRules, DunningPolicy, LateFee, OrderPolicy
from models.tables import CollectionTask, Customer, Invoice
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.platform.policies import PolicyFileError, load_dunning_policies
from o2c.reporting.customer_report import customer_report
from tests.harness import eventually, keep_history, running_worker
from tests.support import Database, RecordingSendGrid, sample_order

TOTAL = Decimal("49.48")  # sample_order with everything shipped


def ship_everything() -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id="S1",
        lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
        carrier="DHL",
        tracking_number="JD1",
    )


def paid(payment_id: str, amount: Decimal | str) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=Decimal(amount),
        currency="USD",
        method=PaymentChannel.BANK_TRANSFER,
        received_at=datetime.now(UTC),
    )


def reminders(mail: RecordingSendGrid) -> list[str]:
    return [
        m["subject"] for m in mail.sent if "overdue" in m["subject"] or m["subject"].startswith(("Reminder", "Final"))
    ]


def body_of(mail: RecordingSendGrid, subject_part: str) -> list[str]:
    return [m["content"][0]["value"] for m in mail.sent if subject_part in m["subject"]]


async def invoiced(o2c: O2CClient, order_id: str, handle: WorkflowHandle[Any, Any]) -> date:
    """Ships the order and answers the invoice's due date."""
    await o2c.ship(order_id, ship_everything())
    view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
    return view.invoices[0].due_date


async def until(env: WorkflowEnvironment, day: date) -> None:
    """Skips time to 10:00 UTC on that day (dunning steps run at 09:00)."""
    target = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    await env.sleep(max(target - await env.get_current_time(), timedelta(seconds=1)))


async def test_paid_before_the_due_date_hears_only_the_pre_due_reminder(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await until(time_env, due - timedelta(days=1))
        await o2c.payment_received(order.order_id, paid("P1", TOTAL))
        outcome = await handle.result()
        await time_env.sleep(timedelta(days=60))  # nothing more comes once paid
    assert outcome.status == OrderStatus.PAID
    assert reminders(mail) == [
        f"Reminder: invoice {outcome.order_id and reminders(mail)[0].split()[2]} is due on {due}"
    ]


async def test_reminders_show_what_is_left_after_a_partial_payment_and_follow_the_search_attributes(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await o2c.payment_received(order.order_id, paid("P1", "10.00"))
        await eventually(handle, lambda s: s.totals.paid == Decimal("10.00"), "partly paid")
        await until(time_env, due + timedelta(days=2))
        view = await eventually(handle, lambda s: s.dunning_level == 1, "first overdue reminder")
        described = await handle.describe()
        attributes = described.typed_search_attributes
        assert attributes.get(sa.DUNNING_LEVEL) == 1
        assert attributes.get(sa.AMOUNT_DUE) == 39.48
        assert attributes.get(sa.ORDER_STATUS) == "OVERDUE"
        assert view.status == OrderStatus.OVERDUE
        await o2c.payment_received(order.order_id, paid("P2", "39.48"))
        await handle.result()
    overdue = body_of(mail, "is overdue")
    assert len(overdue) == 1 and "39.48 USD is still open" in overdue[0]
    data = next(m for m in mail.sent if "is overdue" in m["subject"])["personalizations"][0]["dynamic_template_data"]
    assert (data["amount"], data["due_date"]) == ("39.48 USD", due.isoformat())  # for a SendGrid template


async def test_a_dispute_pauses_reminders_and_its_resolution_resumes_them_with_what_is_left(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await o2c.open_dispute(
            order.order_id, {"dispute_id": "D1", "amount": "9.48", "by": "ar", "reason": "late delivery"}
        )
        await until(time_env, due + timedelta(days=10))
        assert not body_of(mail, "is overdue")  # paused through the first two overdue steps
        await o2c.resolve_dispute(order.order_id, {"dispute_id": "D1", "outcome": "credit_note", "by": "ar"})
        await until(time_env, due + timedelta(days=15))
        await eventually(handle, lambda s: s.dunning_level >= 1, "resumed")
        await o2c.payment_received(order.order_id, paid("P1", "40.00"))
        await handle.result()
    resumed = body_of(mail, "is overdue")
    assert resumed and all("40.00 USD is still open" in text for text in resumed)


async def test_a_kept_promise_moves_reminders_past_its_date(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await until(time_env, due + timedelta(days=2))
        await eventually(handle, lambda s: s.dunning_level == 1, "overdue")
        promised = due + timedelta(days=20)
        await o2c.promise_to_pay(order.order_id, {"promised_date": promised.isoformat(), "amount": "20.00", "by": "ar"})
        await until(time_env, due + timedelta(days=18))
        await o2c.payment_received(order.order_id, paid("P1", "20.00"))
        await until(time_env, promised + timedelta(days=3))
        view = await eventually(handle, lambda s: any(e.event == "promise_kept" for e in s.timeline), "kept")
        await o2c.payment_received(order.order_id, paid("P2", view.totals.due))
        await handle.result()
        await keep_history(handle, "promise_kept")
    dates = [e.at.date() for e in view.timeline if e.event == "dunning" and e.at.date() > due]
    assert dates[0] == due + timedelta(days=1)
    assert all(d > promised for d in dates[1:])  # +7 and +14 fell inside the promise and were skipped
    assert len(reminders(mail)) == 1 + len(dates)  # the pre-due reminder, then one per overdue step


async def test_a_broken_promise_escalates_and_opens_a_collection_task(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        promised = due + timedelta(days=5)
        await o2c.promise_to_pay(order.order_id, {"promised_date": promised.isoformat(), "amount": "49.48", "by": "ar"})
        await until(time_env, promised + timedelta(days=3))
        view = await eventually(handle, lambda s: s.dunning_level == 5, "escalated")
        assert any(e.event == "promise_broken" for e in view.timeline)
        await o2c.write_off(order.order_id, {"by": "cfo", "reason": "uncollectable"})
        await handle.result()
        await keep_history(handle, "promise_broken")
    assert [
        m["subject"] for m in mail.sent if m["personalizations"][0]["to"][0]["email"] == "collections@o2c.example.com"
    ]
    with Session(sqlite_db.engine) as session:
        tasks = session.exec(select(CollectionTask)).all()
        assert [(t.status, t.amount_due_minor) for t in tasks] == [("open", 4948)]
    report = customer_report(sqlite_db.engine, "CUST-1", CreditRules())  # `o2c finance customer show`
    assert report is not None
    assert [t["step"] for t in report["open_collection_tasks"]] == ["escalation"]
    assert report["exposure"]["total"] == "0.00 USD"  # written off
    assert report["risk"]["invoices_considered"] == 1


def policy_with(*extra_steps: dict[str, Any]) -> DunningPolicy:
    base = [s.model_dump(mode="json") for s in DEFAULT_DUNNING.steps if s.offset_days < 7]
    return DunningPolicy.model_validate({"steps": base + list(extra_steps)})


LATE_FEE = {"fixed": {"USD": "5.00"}, "annual_interest_percent": "12", "minimum": {"USD": "7.50"}, "grace_days": 5}


async def test_a_late_fee_invoice_raised_once_and_block_credit(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    policy = OrderPolicy(
        dunning=policy_with(
            {
                "name": "fee",
                "offset_days": 10,
                "level": 2,
                "template": "overdue",
                "actions": ["remind", "late_fee"],
                "late_fee": LATE_FEE,
            },
            {
                "name": "stop",
                "offset_days": 20,
                "level": 3,
                "template": "final_notice",
                "actions": ["remind", "escalate", "block_credit"],
            },
        )
    )
    order = sample_order()
    async with running_worker(time_env.client, database, task_queue, policy=policy) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await until(time_env, due + timedelta(days=21))
        view = await eventually(handle, lambda s: s.dunning_level == 3, "blocked")
        assert len(view.invoices) == 2  # the original, unchanged, and the late fee on its own
        original, fee = view.invoices
        assert original.total == TOTAL and fee.total == Decimal(
            "7.50"
        )  # 5.00 + 12% p.a. on 49.48 for 10 days, at least 7.50
        second = await o2c.start_order(sample_order())
        # Polled, not awaited: awaiting a result lets the test server skip time, and the first order,
        # done with its steps, has no timer left to stop at.
        await eventually(second, lambda s: s.status == OrderStatus.REJECTED, "second order rejected")
        await o2c.payment_received(order.order_id, paid("P1", TOTAL + fee.total))
        outcome = await handle.result()
        await keep_history(handle, "late_fee_and_block")
    assert outcome.status == OrderStatus.PAID
    assert len([s for s in mail.subjects() if s.startswith(f"Invoice {fee.number}")]) == 1
    with Session(database.engine) as session:
        fee_row = session.get(Invoice, fee.number)
        customer = session.get(Customer, "CUST-1")
        assert fee_row is not None and fee_row.kind == "late_fee" and fee_row.due_date == fee_row.issued_on
        assert customer is not None and customer.blocked
    again = ActivityEnvironment().run(
        LateFeeActivities(database.engine, Settings(database_url=database.url)).raise_late_fee,
        RaiseLateFee(
            order_id=order.order_id,
            invoice_number=original.number,
            step_name="fee",
            late_fee=LateFee.model_validate(LATE_FEE),
            on=due + timedelta(days=10),
        ),
    )
    assert again.invoice is not None and again.invoice.number == fee.number  # a retry raises nothing new


def test_late_fee_arithmetic() -> None:
    fee = LateFee.model_validate(LATE_FEE)
    due = date(2026, 1, 31)
    assert late_fee_minor(fee, 100000, due, due + timedelta(days=5), "USD") == (0, 5)  # within grace
    assert late_fee_minor(fee, 100000, due, due + timedelta(days=30), "USD") == (1486, 30)  # 5.00 + 9.86
    assert late_fee_minor(fee, 1000, due, due + timedelta(days=6), "USD") == (750, 6)  # the minimum
    assert late_fee_minor(fee, 100000, due, due + timedelta(days=30), "EUR") == (986, 30)  # no EUR fixed part


async def test_a_customer_segment_brings_its_own_policy(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str, tmp_path: Path
) -> None:
    strict = {
        "steps": [{"name": "now", "offset_days": 1, "level": 4, "template": "final_notice", "actions": ["remind"]}]
    }
    policy_file = tmp_path / "dunning.json"
    policy_file.write_text(
        json.dumps({"default": DEFAULT_DUNNING.model_dump(mode="json"), "segments": {"strict": strict}})
    )
    settings = Settings(database_url=sqlite_db.url, dunning_policy_file=policy_file)
    async with running_worker(time_env.client, sqlite_db, task_queue, settings=settings) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        base = {"customer_id": "CUST-1", "by": "controller", "reason": "payment behaviour"}
        await o2c.change_customer(base | {"name": "Ada", "email": "ada@example.com", "currency": "USD"})
        from o2c.client import InvalidInput

        with pytest.raises(InvalidInput, match="no dunning segment 'lenient' \\(known: strict\\)"):
            await o2c.change_customer(base | {"dunning_segment": "lenient"})
        await o2c.change_customer(base | {"dunning_segment": "strict"})
        order = sample_order()
        handle = await o2c.start_order(order)
        due = await invoiced(o2c, order.order_id, handle)
        await until(time_env, due + timedelta(days=2))
        await eventually(handle, lambda s: s.dunning_level == 4, "strict final notice")
        await o2c.payment_received(order.order_id, paid("P1", TOTAL))
        await handle.result()
    assert reminders(mail) == [r for r in reminders(mail) if r.startswith("Final notice")] and len(reminders(mail)) == 1


async def test_statement_lists_open_invoices_with_their_age(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    first, second = sample_order(), sample_order()
    async with running_worker(time_env.client, sqlite_db, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handles = [await o2c.start_order(order) for order in (first, second)]
        for order, handle in zip((first, second), handles, strict=True):
            await invoiced(o2c, order.order_id, handle)
        sent = await o2c.send_statement({"customer_id": "CUST-1", "by": "ar", "request_id": "S-1"})
        again = await o2c.send_statement({"customer_id": "CUST-1", "by": "ar", "request_id": "S-1"})
        assert sent == again
        await keep_history(time_env.client.get_workflow_handle("statement-CUST-1-S-1"), "statement")
        for order, handle in zip((first, second), handles, strict=True):
            await o2c.payment_received(order.order_id, paid(f"P-{order.order_id}", TOTAL))
            await handle.result()
    statements = [m for m in mail.sent if m["subject"].startswith("Statement of account")]
    assert len(statements) == 1
    text = statements[0]["content"][0]["value"]
    assert text.count("not yet due") == 2 and "Total open: 98.96 USD" in text
    csv_text = base64.b64decode(statements[0]["attachments"][0]["content"]).decode()
    assert csv_text.splitlines()[0] == "invoice,order,issued,due,days_overdue,open,payment_reference"
    assert len(csv_text.splitlines()) == 3


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {
                "steps": [
                    {"name": "a", "offset_days": 1, "level": 1, "template": "overdue", "actions": ["remind"]},
                    {"name": "b", "offset_days": "soon", "level": 2, "template": "overdue", "actions": ["remind"]},
                ]
            },
            "default policy, step 2 (offset_days)",
        ),
        (
            {
                "default": {"steps": []},
                "segments": {
                    "vip": {
                        "steps": [
                            {"name": "a", "offset_days": 1, "level": 1, "template": "overdue", "actions": ["late_fee"]}
                        ]
                    }
                },
            },
            "segment vip, step 1 (step): Value error, the late_fee action and the late_fee settings go together",
        ),
        (
            {
                "steps": [
                    {
                        "name": "a",
                        "offset_days": 1,
                        "level": 1,
                        "template": "overdue",
                        "actions": ["late_fee"],
                        "late_fee": {"fixed": {"JPY": "100.5"}},
                    }
                ]
            },
            "default policy, step 1 (late_fee): Value error, fixed JPY 100.5 has more decimals than JPY allows (0)",
        ),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_step(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyFileError, match=r"^dunning\.json: ") as refused:
        load_dunning_policies(json.dumps(policy), "dunning.json")
    assert message in str(refused.value)
