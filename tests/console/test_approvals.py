"""Write-offs and refunds: within the asker's limit straight to the workflow, above it (or before dunning reached
its write-off level) a request a finance manager approves. Checked in the workflow's status, the ledger and the
approval requests, not only on the page."""

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from models.contract import OrderStatus, StatusView
from models.tables import ApprovalRequest, CreditNote, LedgerEntry
from o2c.access import Role
from o2c.access.approvals import ApprovalError, decide_request, pending, pending_size, request_approval
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.harness import eventually
from tests.seed import add_customer, add_order
from tests.support import Database, sample_order

FLASH = re.compile(r'<article role="(?:alert|status)" class="flash flash-\w+">(.*?)</article>', re.S)


async def invoiced(stack: ConsoleStack, widgets: int) -> tuple[str, Any, StatusView]:
    """An approved order of ``widgets`` at 19.99 + 10 % tax, shipped whole and invoiced."""
    order = sample_order(lines=[("WIDGET", widgets, "19.99")])
    handle = await stack.o2c.start_order(order)
    await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
    shipment = {
        "shipment_id": "S1",
        "carrier": "DHL",
        "tracking_number": "T1",
        "lines": [{"sku": "WIDGET", "quantity": widgets}],
    }
    await stack.o2c.ship(order.order_id, shipment)
    view = await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
    return order.order_id, handle, view


def write_off_postings(stack: ConsoleStack, order_id: str) -> list[LedgerEntry]:
    with Session(stack.db.engine) as session:
        return list(
            session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.order_id == order_id, col(LedgerEntry.journal).startswith("write_off:")
                )
            ).all()
        )


def requests_for(stack: ConsoleStack, order_id: str) -> list[ApprovalRequest]:
    with Session(stack.db.engine) as session:
        return list(session.exec(select(ApprovalRequest).where(ApprovalRequest.order_id == order_id)).all())


async def flashes(http: httpx.AsyncClient, path: str = "/approvals") -> str:
    return " ".join(FLASH.findall((await http.get(path)).text))


async def written_off(stack: ConsoleStack, handle: Any, order_id: str, amount: str) -> None:
    view = await eventually(handle, lambda s: s.status == OrderStatus.WRITTEN_OFF, "written off")
    assert view.totals.written_off == Decimal(amount) and view.totals.due == 0
    for _ in range(200):
        if postings := write_off_postings(stack, order_id):
            break
        await asyncio.sleep(0.025)
    assert sum(p.debit_minor for p in postings) == sum(p.credit_minor for p in postings) == int(Decimal(amount) * 100)
    assert len({p.journal for p in postings}) == 1  # one decision, one journal


async def test_a_collector_above_the_limit_asks_and_a_manager_approves_in_the_browser(
    stack: ConsoleStack, page: Any
) -> None:
    order_id, handle, view = await invoiced(stack, 3)  # 65.97 USD, above the collector's 50.00
    assert view.totals.due == Decimal("65.97")
    await sign_in(page, stack, Role.COLLECTOR)
    await page.goto(f"{stack.url}/orders/{order_id}/write-off")
    assert await page.get_by_label("Amount in USD").input_value() == "65.97"
    await page.get_by_label("Reason").fill("customer insolvent")
    await page.get_by_role("button", name="Write off").click()
    await page.wait_for_url(f"{stack.url}/approvals")
    told = await page.get_by_role("status").first.inner_text()
    assert "above your write-off limit of 50.00 USD: sent to a finance manager for approval" in told
    await asyncio.sleep(0.3)  # anything sent would have reached the workflow by now
    view = await eventually(handle, lambda s: True, "status")
    assert (view.status, view.totals.written_off) == (OrderStatus.INVOICED, 0)
    assert not write_off_postings(stack, order_id)
    [asked] = requests_for(stack, order_id)
    assert (asked.status, asked.kind, asked.amount_minor, asked.requested_by) == (
        "pending",
        "write_off",
        65_97,
        "collector",
    )

    await sign_in(page, stack, Role.FINANCE_MANAGER)
    await page.goto(f"{stack.url}/approvals")
    row = page.locator(f"#request-{asked.id}")
    assert "customer insolvent" in (shown := await row.inner_text()) and "Ada Lovelace" in shown
    await screenshot(page, "approvals")
    await row.get_by_role("button", name=f"Approve the write-off of US$65.97 on order {order_id}").click()
    await page.wait_for_url(f"{stack.url}/approvals")
    assert "approved" in await page.get_by_role("status").first.inner_text()
    await written_off(stack, handle, order_id, "65.97")
    [decided] = requests_for(stack, order_id)
    assert (decided.status, decided.decided_by) == ("approved", "finance-manager")
    assert decided.outcome and "write-off accepted" in decided.outcome


async def test_a_role_without_the_permission_posting_the_form_is_refused_and_nothing_happens(
    stack: ConsoleStack,
) -> None:
    order_id, handle, _ = await invoiced(stack, 1)
    controller = await stack.signed_in(Role.CREDIT_CONTROLLER)
    assert (await controller.get(f"/orders/{order_id}/write-off")).status_code == 403
    posted = await stack.post(controller, f"/orders/{order_id}/write-off", {"amount": "10.00", "reason": "bad debt"})
    assert posted.status_code == 403
    refund = await stack.post(controller, f"/orders/{order_id}/refund", {"amount": "1.00", "reason": "goodwill"})
    assert refund.status_code == 403
    await asyncio.sleep(0.3)
    view = await eventually(handle, lambda s: True, "status")
    assert (view.status, view.totals.written_off, view.totals.credited) == (OrderStatus.INVOICED, 0, 0)
    assert not write_off_postings(stack, order_id) and not requests_for(stack, order_id)


async def test_a_write_off_before_the_final_notice_needs_a_second_person_and_nobody_approves_their_own(
    stack: ConsoleStack,
) -> None:
    order_id, handle, _ = await invoiced(stack, 1)  # 21.99 USD, dunning level 0
    clerk = await stack.signed_in(Role.AR_CLERK)
    # Within the clerk's 100.00, but the workflow wants a manager's approval before dunning's write-off level.
    await stack.post(clerk, f"/orders/{order_id}/write-off", {"amount": "10.00", "reason": "small balance"})
    assert "the workflow asks for a second person (dunning is at level 0" in await flashes(clerk)
    [asked] = requests_for(stack, order_id)
    assert (asked.status, asked.amount_minor, asked.requested_by) == ("pending", 10_00, "ar-clerk")
    assert (await stack.post(clerk, f"/approvals/{asked.id}/approve", {})).status_code == 403  # no APPROVE

    manager = await stack.signed_in(Role.FINANCE_MANAGER)
    await stack.post(manager, f"/orders/{order_id}/write-off", {"amount": "5.00", "reason": "rounding"})
    own = next(r for r in requests_for(stack, order_id) if r.requested_by == "finance-manager")
    assert "Your request: another finance manager approves it." in (await manager.get("/approvals")).text
    await stack.post(manager, f"/approvals/{own.id}/approve", {})
    assert "another finance manager approves it" in await flashes(manager)
    await stack.post(manager, f"/approvals/{asked.id}/reject", {"reason": ""})
    assert "Say why it is rejected" in await flashes(manager)
    await asyncio.sleep(0.3)
    assert {r.id: r.status for r in requests_for(stack, order_id)} == {asked.id: "pending", own.id: "pending"}
    view = await eventually(handle, lambda s: True, "status")
    assert view.totals.written_off == 0 and not write_off_postings(stack, order_id)

    await stack.post(manager, f"/approvals/{asked.id}/reject", {"reason": "call them first"})
    rejected = next(r for r in requests_for(stack, order_id) if r.id == asked.id)
    assert (rejected.status, rejected.decided_by, rejected.outcome) == (
        "rejected",
        "finance-manager",
        "rejected: call them first",
    )
    assert "Credit holds" in (home := (await manager.get("/")).text)
    assert "Write-offs and refunds to approve: 1 waiting" in home


async def test_an_approval_posted_twice_is_one_decision(stack: ConsoleStack) -> None:
    order_id, handle, _ = await invoiced(stack, 3)
    collector = await stack.signed_in(Role.COLLECTOR)
    await stack.post(collector, f"/orders/{order_id}/write-off", {"amount": "", "reason": "customer insolvent"})
    [asked] = requests_for(stack, order_id)
    manager = await stack.signed_in(Role.FINANCE_MANAGER)
    form = {"csrftoken": manager.csrftoken, "request_id": "one-click"}  # type: ignore[attr-defined]
    first, second = await asyncio.gather(
        manager.post(f"/approvals/{asked.id}/approve", data=form),
        manager.post(f"/approvals/{asked.id}/approve", data=form),
    )
    assert first.status_code == second.status_code == 303
    await written_off(stack, handle, order_id, "65.97")
    assert "approved" in await flashes(manager)  # what the two clicks were told (their cookies raced too)
    await stack.post(manager, f"/approvals/{asked.id}/approve", {})
    assert f"on order {order_id} asked by collector is already approved by finance-manager" in await flashes(manager)
    [decided] = requests_for(stack, order_id)
    assert (decided.status, decided.decided_by) == ("approved", "finance-manager")
    await asyncio.sleep(0.3)
    assert len({p.journal for p in write_off_postings(stack, order_id)}) == 1
    view = await eventually(handle, lambda s: True, "status")
    assert [e.event for e in view.timeline].count("write_off") == 1


async def test_refunds_within_the_limit_go_at_once_and_above_it_a_manager_lets_the_money_go(
    stack: ConsoleStack,
) -> None:
    order_id, handle, view = await invoiced(stack, 6)  # 131.93 USD
    payment = {"payment_id": "P1", "amount": view.totals.due, "currency": "USD", "method": "bank_transfer"}
    await stack.o2c.payment_received(order_id, {**payment, "received_at": datetime.now(UTC)})
    await eventually(handle, lambda s: s.status == OrderStatus.PAID, "paid")
    [invoice] = view.invoices
    clerk = await stack.signed_in(Role.AR_CLERK)
    page = await clerk.get(f"/orders/{order_id}/refund")
    assert f'<option value="{invoice.number}">' in page.text
    await stack.post(
        clerk,
        f"/orders/{order_id}/refund",
        {"invoice_number": invoice.number, "amount": "10.00", "reason": "one widget returned"},
    )
    assert "held as the customer&#39;s credit" in await flashes(clerk, f"/orders/{order_id}/refund")
    await stack.post(
        clerk,
        f"/orders/{order_id}/refund",
        {"invoice_number": invoice.number, "amount": "120.00", "reason": "rest returned"},
    )
    assert "above your refund limit of 100.00 USD" in await flashes(clerk)
    [asked] = requests_for(stack, order_id)
    assert (asked.kind, asked.invoice_number, asked.amount_minor) == ("refund", invoice.number, 120_00)
    assert credit_notes(stack, invoice.number) == [(10_00, "ar-clerk")]

    manager = await stack.signed_in(Role.FINANCE_MANAGER)
    await stack.post(manager, f"/approvals/{asked.id}/approve", {})
    [decided] = requests_for(stack, order_id)
    assert (decided.status, decided.decided_by, decided.requested_by) == ("approved", "finance-manager", "ar-clerk")
    assert credit_notes(stack, invoice.number) == [(10_00, "ar-clerk"), (120_00, "finance-manager")]
    with Session(stack.db.engine) as session:
        numbers = session.exec(select(CreditNote.number).where(CreditNote.invoice_number == invoice.number)).all()
        journals = set(session.exec(select(LedgerEntry.journal).where(LedgerEntry.order_id == order_id)).all())
    assert {f"credit_note:{n}" for n in numbers} <= journals
    assert decided.outcome and numbers[-1] in decided.outcome


def credit_notes(stack: ConsoleStack, invoice_number: str) -> list[tuple[int, str]]:
    with Session(stack.db.engine) as session:
        notes = session.exec(
            select(CreditNote).where(CreditNote.invoice_number == invoice_number).order_by(col(CreditNote.number))
        ).all()
        return [(note.total_minor, note.actor) for note in notes]


def test_approval_requests_are_filed_once_and_decided_once_by_someone_else(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 500_00)
    engine = database.engine
    first = request_approval(engine, "write_off", "O1", "C1", 300_00, "USD", "insolvent", "collector", "R1")
    again = request_approval(engine, "write_off", "O1", "C1", 999_00, "USD", "twice", "collector", "R1")
    assert (again.id, again.amount_minor, again.reason) == ("R1", 300_00, "insolvent")  # the first one, unchanged
    request_approval(engine, "refund", "O1", "C1", 20_00, "USD", "returned", "ar-clerk", "R2", "INV-2026-000001")
    with pytest.raises(ApprovalError, match="names the invoice"):
        request_approval(engine, "refund", "O1", "C1", 20_00, "USD", "returned", "ar-clerk", "R3")
    assert [r.id for r in pending(engine, 1, 1)] == ["R1", "R2"]  # oldest first, one more than a page
    assert [r.id for r in pending(engine, 2, 1)] == ["R2"]
    count, oldest = pending_size(engine)
    assert count == 2 and oldest is not None and oldest.tzinfo is not None
    assert oldest == (first.created_at if first.created_at.tzinfo else first.created_at.replace(tzinfo=UTC))

    with pytest.raises(ApprovalError, match="someone other than the person who made it"):
        decide_request(engine, "R1", "approved", "Collector", "write-off accepted")
    decided = decide_request(engine, "R1", "approved", "finance-manager", "write-off accepted")
    assert (decided.status, decided.decided_by, decided.outcome) == (
        "approved",
        "finance-manager",
        "write-off accepted",
    )
    assert decided.decided_at is not None
    with pytest.raises(ApprovalError, match="already approved by finance-manager"):
        decide_request(engine, "R1", "rejected", "other-manager", "rejected: late")
    decide_request(engine, "R2", "rejected", "finance-manager", "rejected: no return received")
    assert pending(engine, 1, 10) == [] and pending_size(engine) == (0, None)
