"""Disputes in the console: an AR clerk resolves an open dispute with a credit note in the browser (the
order's ``resolve_dispute``), and the credit note, the order's status and the ledger follow; over HTTP, a
refusal of the workflow is shown as it is, and a collector may not resolve a dispute."""

import asyncio
from typing import Any

from sqlmodel import Session, col, select

from activities import ledger
from models.contract import Customer, OrderStatus
from models.tables import CreditNote, Dispute, LedgerEntry
from o2c.access import Role
from tests.books import check_books
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.console.test_cash import invoiced, until


async def disputed(stack: ConsoleStack, customer: Customer, amount: str = "49.48") -> tuple[str, str]:
    """An invoiced order with dispute D1 open on ``amount``, recorded in the database: its id and invoice."""
    order_id, invoice = await invoiced(stack, customer)
    opened = await stack.o2c.open_dispute(
        order_id, {"dispute_id": "D1", "amount": amount, "reason": "two widgets arrived broken", "by": "service"}
    )
    assert opened.accepted, opened.message
    for _ in range(200):
        with Session(stack.db.engine) as session:
            if session.exec(select(Dispute).where(Dispute.order_id == order_id)).first() is not None:
                return order_id, invoice
        await asyncio.sleep(0.025)
    raise AssertionError(f"dispute D1 of {order_id} never reached the database")


async def test_an_ar_clerk_resolves_a_dispute_with_a_credit_note(stack: ConsoleStack, page: Any) -> None:
    order_id, invoice = await disputed(stack, Customer(id="C-HOOLI", name="Hooli", email="ap@hooli.example"))

    await sign_in(page, stack, Role.AR_CLERK)
    await page.goto(f"{stack.url}/disputes")
    await page.get_by_text("two widgets arrived broken").wait_for()
    await page.get_by_label("Outcome of D1").select_option("credit_note")
    await page.get_by_label("Note").fill("photos of the damage received")
    await screenshot(page, "disputes")
    await page.get_by_role("button", name="Resolve dispute D1").click()
    await page.get_by_text(f"Dispute D1 on order {order_id}").wait_for()

    view = await until(stack, order_id, lambda s: s.status == OrderStatus.CREDITED, "credited")
    assert [(d.dispute_id, d.status) for d in view.disputes] == [("D1", "credit_note")]
    assert str(view.totals.credited) == "49.48" and str(view.totals.due) == "0.00"
    with Session(stack.db.engine) as session:
        notes = session.exec(select(CreditNote).where(CreditNote.order_id == order_id)).all()
        assert [(n.invoice_number, n.total_minor, n.actor) for n in notes] == [(invoice, 4948, "ar-clerk")]
        dispute = session.exec(select(Dispute).where(Dispute.order_id == order_id)).one()
        assert (dispute.status, dispute.resolved_by) == ("credit_note", "ar-clerk")
        # The credit note's journal, once: receivables down by the invoice's total.
        entries = session.exec(
            select(LedgerEntry).where(col(LedgerEntry.journal) == f"credit_note:{notes[0].number}")
        ).all()
    receivables = sum(e.debit_minor - e.credit_minor for e in entries if e.account == ledger.RECEIVABLES)
    assert receivables == -4948
    check_books(stack.db.engine)
    await page.goto(f"{stack.url}/disputes")
    assert await page.get_by_text("No dispute is open.").is_visible()


async def test_a_refusal_is_shown_and_a_collector_may_not_resolve(stack: ConsoleStack) -> None:
    order_id, _ = await disputed(stack, Customer(id="C-INITECH", name="Initech", email="ap@initech.example"), "10.00")
    resolve = f"/disputes/{order_id}/D1/resolve"
    collector = await stack.signed_in(Role.COLLECTOR)
    assert (await collector.get("/disputes")).status_code == 200
    assert (await stack.post(collector, resolve, {"outcome": "rejected"})).status_code == 403

    controller = await stack.signed_in(Role.CREDIT_CONTROLLER)
    answer = await stack.post(controller, resolve, {"outcome": "write_off", "amount": "10.01"})
    assert answer.status_code == 303
    shown = (await controller.get("/disputes")).text
    assert "Dispute D1 not resolved" in shown and "larger than the disputed amount" in shown
    rejected = await stack.post(controller, resolve, {"outcome": "rejected", "note": "not our carrier"})
    assert rejected.status_code == 303
    view = await until(stack, order_id, lambda s: s.disputes[0].status == "rejected", "rejected")
    assert view.status == OrderStatus.INVOICED and str(view.totals.due) == "49.48"
    with Session(stack.db.engine) as session:
        assert session.exec(select(CreditNote)).all() == []
