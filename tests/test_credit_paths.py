"""Credit management through real workflows on both databases: the customer master, decisions on record,
the re-check before invoicing, and exposure released on every way out of an order."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.credit import customer_exposure
from models.contract import (
    InvoicingPolicy,
    OrderStatus,
    PaymentChannel,
    PaymentReceived,
    ShipmentDispatched,
    ShippedLine,
)
from models.tables import AuditEntry, CreditDecision, Customer, CustomerChange, Invoice, Order
from o2c.client import InvalidInput, O2CClient
from tests.harness import eventually, keep_history, running_worker
from tests.support import Database, RecordingSendGrid, sample_order

CUSTOMER = "CUST-1"


def shipment(shipment_id: str, *lines: tuple[str, int]) -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id=shipment_id,
        lines=[ShippedLine(sku=sku, quantity=qty) for sku, qty in lines],
        carrier="DHL",
        tracking_number=f"TRK-{shipment_id}",
    )


def paid(payment_id: str, amount: Decimal) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=amount,
        currency="USD",
        method=PaymentChannel.BANK_TRANSFER,
        received_at=datetime.now(UTC),
    )


def released(db: Database, order_id: str) -> None:
    """Nothing of the order is reserved any more, and the customer's exposure is only what is still open."""
    with Session(db.engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        assert order.credit_reserved_minor == 0, f"{order.status}: {order.credit_reserved_minor} still reserved"
        exposure = customer_exposure(session, order.customer_id, "USD", "", datetime.now(UTC).date())
        open_minor = sum(
            i.open_minor for i in session.exec(select(Invoice).where(Invoice.customer_id == order.customer_id))
        )
        assert exposure.reserved_elsewhere_minor == 0
        assert exposure.open_receivables_minor == open_minor


async def reserved_becomes(db: Database, order_id: str, minor: int) -> None:
    """The workflow's state moves before the activity that records it finishes: wait for the database."""
    for _ in range(400):
        with Session(db.engine) as session:
            order = session.get(Order, order_id)
            if order is not None and order.credit_reserved_minor == minor:
                return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{order_id} never had {minor} reserved")


def decisions(db: Database, order_id: str) -> list[tuple[str, str, str]]:
    with Session(db.engine) as session:
        rows = session.exec(
            select(CreditDecision).where(CreditDecision.order_id == order_id).order_by(col(CreditDecision.id))
        ).all()
        return [(r.stage, r.decision, r.decided_by) for r in rows]


async def master(o2c: O2CClient, **change: Any) -> Any:
    return await o2c.change_customer({"customer_id": CUSTOMER, "by": "controller", "reason": "annual review"} | change)


def mails_to(mail: RecordingSendGrid, address: str) -> list[dict[str, Any]]:
    return [m for m in mail.sent if m["personalizations"][0]["to"][0]["email"] == address]


# --------------------------------------------------------------------------------- customer master


async def test_customer_master_changes_are_audited_and_told_to_ar_once(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        with pytest.raises(InvalidInput, match="creating it needs email, currency"):
            await master(o2c, name="Ada Lovelace")
        created = await master(
            o2c,
            name="Ada Lovelace",
            email="ada@example.com",
            currency="USD",
            credit_limit="500.00",
            payment_terms={"net_days": 20, "discount_percent": "2", "discount_days": 10},
        )
        assert created.created and not created.accounts_receivable_notified
        change = {"billing_email": "ap@lovelace.example", "billing_address": "1 Analytical Way", "change_id": "CH-1"}
        first = await master(o2c, **change)
        again = await master(o2c, **change)  # finance pressed enter twice
        await keep_history(
            time_env.client.get_workflow_handle(f"customer-{CUSTOMER}-change-CH-1"), "customer_master_change"
        )
        assert first == again
        assert first.accounts_receivable_notified
        assert {c.field for c in first.changes} == {"billing_email", "billing_address"}
        credit_only = await master(o2c, credit_limit="750", risk_class="low")
        assert not credit_only.billing_changed
        with pytest.raises(InvalidInput, match="more decimals than USD allows"):
            await master(o2c, credit_limit="1.001")
        with pytest.raises(InvalidInput, match="nothing to change"):
            await master(o2c)
        # An order without terms takes the customer's; its invoice goes to the billing contact.
        order = sample_order(payment_terms=None)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, shipment("S1", ("WIDGET", 2), ("GADGET", 1)))
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        assert view.invoices[0].due_date == view.invoices[0].issued_on + timedelta(days=20)
        await o2c.payment_received(order.order_id, paid("P1", view.totals.due))
        await handle.result()
    ar = mails_to(mail, "ar@o2c.example.com")
    assert len(ar) == 1
    assert "billing_email: (none) -> ap@lovelace.example" in ar[0]["content"][0]["value"]
    assert [m["subject"] for m in mails_to(mail, "ap@lovelace.example")][0].startswith("Invoice")
    with Session(database.engine) as session:
        fields = session.exec(select(CustomerChange.field).where(CustomerChange.change_id == "CH-1")).all()
        assert sorted(fields) == ["billing_address", "billing_email"]
        trail = session.exec(select(AuditEntry.event).where(col(AuditEntry.event).startswith("customer_"))).all()
        assert sorted(trail) == ["customer_changed", "customer_changed", "customer_created"]
        customer = session.get(Customer, CUSTOMER)
        assert customer is not None
        assert (customer.credit_limit_minor, customer.risk_class) == (750_00, "low")


async def test_blocked_customer_rejected_without_a_hold(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        await master(o2c, name="Ada", email="ada@example.com", currency="USD", blocked=True)
        order = sample_order()
        outcome = await (await o2c.start_order(order)).result()
    assert outcome.status == OrderStatus.REJECTED
    assert decisions(database, order.order_id) == [("order", "reject", "credit-engine")]
    assert any("customer is blocked" in m["content"][0]["value"] for m in mails_to(mail, "ada@example.com"))
    released(database, order.order_id)


# ------------------------------------------------------------------------------ holds and decisions


async def test_hold_then_approve_keeps_both_decisions_with_their_figures(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order(lines=[("REACTOR", 1, "25000.00")])
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "on hold")
        with Session(database.engine) as session:
            row = session.get(Order, order.order_id)
            assert row is not None and row.credit_reserved_minor == 0  # a held order reserves nothing yet
        await o2c.approve_credit(order.order_id, {"by": "controller", "note": "bank guarantee received"})
        view = await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        await reserved_becomes(database, order.order_id, 27_500_00)
        await o2c.ship(order.order_id, shipment("S1", ("REACTOR", 1)))
        done = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        await o2c.payment_received(order.order_id, paid("P1", done.totals.due))
        await handle.result()
    hold, approval = view.credit_decisions
    assert (hold.decision, hold.by) == ("hold", "credit-engine")
    assert (approval.decision, approval.by, approval.reason) == ("approved", "controller", "bank guarantee received")
    assert hold.figures is not None and hold.figures == approval.figures
    assert (hold.figures.exposure, hold.figures.limit, hold.figures.this_order) == (
        Decimal("27500.00"),
        Decimal("10000.00"),
        Decimal("27500.00"),
    )
    assert decisions(database, order.order_id) == [
        ("order", "hold", "credit-engine"),
        ("order", "approved", "controller"),
    ]
    finance = mails_to(mail, "finance@o2c.example.com")
    assert "Exposure: 27500.00 USD (limit 10000.00 USD)" in finance[0]["content"][0]["value"]
    released(database, order.order_id)


@pytest.mark.parametrize("exit_path", ["rejected", "expired", "cancelled", "written_off"])
async def test_exposure_released_on_every_exit(
    time_env: WorkflowEnvironment, database: Database, task_queue: str, exit_path: str
) -> None:
    big = exit_path in ("rejected", "expired")
    order = sample_order(lines=[("REACTOR", 1, "25000.00")] if big else None)
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        waiting = OrderStatus.CREDIT_HOLD if big else OrderStatus.AWAITING_SHIPMENT
        await eventually(handle, lambda s: s.status == waiting, waiting.value)
        if exit_path == "rejected":
            await o2c.reject_credit(order.order_id, {"by": "cfo", "reason": "exposure too high for this customer"})
        elif exit_path == "cancelled":
            await o2c.cancel_order(order.order_id, {"by": "ops", "reason": "customer withdrew the order"})
        elif exit_path == "written_off":
            await o2c.ship(order.order_id, shipment("S1", ("WIDGET", 2), ("GADGET", 1)))
            await eventually(handle, lambda s: bool(s.invoices), "invoiced")
            await o2c.write_off(
                order.order_id, {"by": "ar-clerk", "approved_by": "cfo", "reason": "customer insolvent"}
            )
        outcome = await handle.result()  # "expired": time skips past the seven days
        if exit_path == "cancelled":
            await keep_history(handle, "cancellation_told")
    expected = {
        "rejected": OrderStatus.REJECTED,
        "expired": OrderStatus.CANCELLED,
        "cancelled": OrderStatus.CANCELLED,
        "written_off": OrderStatus.WRITTEN_OFF,
    }
    assert outcome.status == expected[exit_path]
    released(database, order.order_id)
    if exit_path == "cancelled":
        told = [m for m in mails_to(mail, "ada@example.com") if "cancelled" in m["subject"]]
        assert "customer withdrew the order" in told[0]["content"][0]["value"]
    if exit_path == "expired":
        assert decisions(database, order.order_id) == [
            ("order", "hold", "credit-engine"),
            ("order", "expired", "credit-engine"),
        ]
        told = [m for m in mails_to(mail, "ada@example.com") if "cancelled" in m["subject"]]
        assert "credit hold expired without a decision" in told[0]["content"][0]["value"]


# ----------------------------------------------------------------------------- re-check on invoicing


async def test_recheck_withdraws_credit_from_a_customer_blocked_meanwhile(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order(
        lines=[("WIDGET", 2, "10.00"), ("GADGET", 1, "5.00"), ("GIZMO", 1, "7.00")],
        invoicing=InvoicingPolicy.PER_SHIPMENT,
    )
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, shipment("S1", ("WIDGET", 2)))
        first = await eventually(handle, lambda s: len(s.invoices) == 1, "first invoice")
        assert first.invoices[0].due_date == first.invoices[0].issued_on + timedelta(days=30)
        await master(o2c, blocked=True, reason="insolvency filed")
        await o2c.ship(order.order_id, shipment("S2", ("GADGET", 1)))
        second = await eventually(handle, lambda s: len(s.invoices) == 2, "second invoice")
        assert second.invoices[1].due_date == second.invoices[1].issued_on  # due at once
        await o2c.ship(order.order_id, shipment("S3", ("GIZMO", 1)))
        view = await eventually(handle, lambda s: any(e.event == "shipment_exception" for e in s.timeline), "refused")
        assert (
            "cancelled when credit was withdrawn"
            in [e for e in view.timeline if e.event == "shipment_exception"][0].detail
        )
        await o2c.payment_received(order.order_id, paid("P1", view.totals.due))
        outcome = await handle.result()
        await keep_history(handle, "credit_recheck_withdrawn")
    assert outcome.status == OrderStatus.PAID
    assert [d[:2] for d in decisions(database, order.order_id)] == [
        ("order", "approve"),
        ("before_invoicing", "reject"),
    ]
    assert [v.decision for v in view.credit_decisions] == ["approve", "reject"]
    assert any(m["subject"].endswith("items not yet shipped are cancelled") for m in mails_to(mail, "ada@example.com"))
    released(database, order.order_id)


async def test_recheck_holds_after_the_limit_was_lowered_and_finance_approves(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        await master(o2c, credit_limit="20.00")
        await o2c.ship(order.order_id, shipment("S1", ("WIDGET", 2), ("GADGET", 1)))
        held = await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "held before invoicing")
        assert not held.invoices
        assert "would exceed the limit 20.00 USD" in held.credit_decisions[-1].reason
        await o2c.approve_credit(order.order_id, {"by": "controller", "note": "paid by wire on delivery"})
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced after approval")
        assert view.invoices[0].due_date == view.invoices[0].issued_on + timedelta(days=30)
        await o2c.payment_received(order.order_id, paid("P1", view.totals.due))
        await handle.result()
        await keep_history(handle, "credit_recheck_hold_approved")
    assert [d[:2] for d in decisions(database, order.order_id)] == [
        ("order", "approve"),
        ("before_invoicing", "hold"),
        ("before_invoicing", "approved"),
    ]
    released(database, order.order_id)
