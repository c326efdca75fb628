"""Cash exceptions in the console: an AR clerk applies an unapplied receipt to invoices of two orders in the
browser, both orders are paid and the books hold the cash once; over HTTP, a form that asks for more than the
receipt holds (or for a fraction of a cent) applies nothing, a form sent twice applies once, and a collector
may not apply cash."""

import re
import uuid
from typing import Any

from sqlmodel import Session, col, select

from activities import ledger
from activities.cash_application import store_statement
from models.activity_io import CashApplied, MatchReceipts
from models.contract import Customer, OrderStatus, StatusView
from models.naming import workflow_id
from models.tables import AuditEntry, CashApplication, CashReceipt, LedgerEntry
from o2c.access import Role
from o2c.statements import parse_statement
from tests.books import check_books
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.harness import eventually
from tests.support import sample_order
from tests.test_cash_application import camt053
from tests.test_workflow_paths import ship_all
from workflows.cash_application import CashApplicationWorkflow


async def until(stack: ConsoleStack, order_id: str, check: Any, what: str) -> StatusView:
    return await eventually(stack.client.get_workflow_handle(workflow_id(order_id)), check, what)


async def invoiced(stack: ConsoleStack, customer: Customer) -> tuple[str, str]:
    """An order of 49.48 USD (two widgets at 19.99 and a gadget at 5.00, 10% tax), shipped and invoiced:
    its id and its invoice's number."""
    order = sample_order(customer=customer)
    await stack.o2c.start_order(order)
    await stack.o2c.ship(order.order_id, ship_all([("WIDGET", 2), ("GADGET", 1)]))
    view = await until(stack, order.order_id, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
    return order.order_id, view.invoices[0].number


async def unapplied_receipt(stack: ConsoleStack, amount: str, payer: str = "Somebody Else") -> CashReceipt:
    """A bank statement line the matching engine leaves for a person (no reference, an unknown payer)."""
    data = camt053([(amount, payer, "", "", "for the widgets")], statement_id=f"S-{uuid.uuid4().hex[:8]}")
    stored, _ = store_statement(stack.db.engine, parse_statement(data), "test")
    matched = await stack.client.execute_workflow(
        CashApplicationWorkflow.run,
        MatchReceipts(statement_key=stored.key, requested_by="test"),
        id=f"cash-{uuid.uuid4().hex[:8]}",
        task_queue=stack.task_queue,
        result_type=CashApplied,
    )
    assert (matched.receipts, matched.applied, matched.unapplied) == (1, 0, 1)
    with Session(stack.db.engine) as session:
        return session.exec(select(CashReceipt).where(CashReceipt.statement_key == stored.key)).one()


def cash_journals(stack: ConsoleStack, receipt_id: str) -> dict[str, int]:
    """Each journal that moved this receipt's money, with how much it took out of unapplied cash."""
    with Session(stack.db.engine) as session:
        entries = session.exec(
            select(LedgerEntry).where(
                col(LedgerEntry.journal).in_([f"receipt:{receipt_id}"])
                | col(LedgerEntry.journal).startswith(f"payment:{receipt_id}:")
            )
        ).all()
    moved: dict[str, int] = {}
    for entry in entries:
        if entry.account == ledger.UNAPPLIED_CASH:
            moved[entry.journal] = moved.get(entry.journal, 0) + entry.debit_minor - entry.credit_minor
    return moved


async def test_an_ar_clerk_applies_one_receipt_to_invoices_of_two_orders(stack: ConsoleStack, page: Any) -> None:
    umbrella = Customer(id="C-UMBRELLA", name="Umbrella Supplies", email="ap@umbrella.example")
    (first, first_invoice), (second, second_invoice) = [await invoiced(stack, umbrella) for _ in range(2)]
    receipt = await unapplied_receipt(stack, "98.96")

    await sign_in(page, stack, Role.AR_CLERK)
    await page.goto(f"{stack.url}/cash")
    await page.get_by_role("link", name=receipt.id).click()
    await page.get_by_label("Customer, amount or invoice number").fill("umbrella")
    for number in (first_invoice, second_invoice):
        await page.get_by_role("button", name=f"Add {number}").click()
        await page.get_by_label(f"Amount for {number}").wait_for()
    assert await page.get_by_label(f"Amount for {first_invoice}").input_value() == "49.48"
    await page.get_by_label("Note for the audit trail").fill("customer rang: both widget orders")
    await screenshot(page, "cash")
    await page.get_by_role("button", name="Apply the receipt to these invoices").click()
    await page.get_by_text(f"applied to {second_invoice}").wait_for()

    for order_id in (first, second):
        view = await until(stack, order_id, lambda s: s.status == OrderStatus.PAID, "paid")
        assert str(view.totals.paid) == "49.48"
    with Session(stack.db.engine) as session:
        stored = session.get(CashReceipt, receipt.id)
        assert stored is not None and (stored.status, stored.unapplied_minor) == ("applied", 0)
        applications = session.exec(select(CashApplication).where(CashApplication.receipt_id == receipt.id)).all()
        assert sorted((a.order_id, a.amount_minor, a.status, a.actor) for a in applications) == sorted(
            [(first, 4948, "delivered", "ar-clerk"), (second, 4948, "delivered", "ar-clerk")]
        )
        assert session.exec(select(AuditEntry).where(AuditEntry.event == "cash_applied")).all()
    # The receipt put 98.96 into unapplied cash once; its two payments took 49.48 each out of it, once.
    assert cash_journals(stack, receipt.id) == {
        f"receipt:{receipt.id}": -9896,
        f"payment:{receipt.id}:1": 4948,
        f"payment:{receipt.id}:2": 4948,
    }
    check_books(stack.db.engine)


def _lines(numbers: list[str], amounts: list[str]) -> dict[str, Any]:
    return {"invoice": numbers, **{f"amount-{n}": a for n, a in zip(numbers, amounts, strict=True)}}


def _applications(stack: ConsoleStack) -> list[CashApplication]:
    with Session(stack.db.engine) as session:
        return list(session.exec(select(CashApplication)).all())


async def test_too_much_or_a_fraction_of_a_cent_applies_nothing_and_a_double_submit_applies_once(
    stack: ConsoleStack,
) -> None:
    acme = Customer(id="C-ACME", name="Acme Trading", email="ap@acme.example")
    (order, invoice), (_, other_invoice) = [await invoiced(stack, acme) for _ in range(2)]
    receipt = await unapplied_receipt(stack, "60.00")
    http = await stack.signed_in(Role.AR_CLERK)
    apply = f"/cash/{receipt.id}/apply"

    # 49.48 + 20.00 is more than the 60.00 the receipt holds: neither invoice gets anything.
    refused = await stack.post(http, apply, _lines([invoice, other_invoice], ["49.48", "20.00"]))
    assert refused.status_code == 303
    page = await http.get(refused.headers["location"])
    assert "Nothing was applied" in page.text and "more than the 60.00 USD unapplied" in page.text
    assert (await stack.post(http, apply, _lines([invoice], ["10.001"]))).status_code == 303
    assert "more decimals than USD allows" in (await http.get(f"/cash/{receipt.id}")).text
    assert (await stack.post(http, apply, _lines([invoice], ["60.00"]))).status_code == 303
    assert "has 49.48 USD open" in (await http.get(f"/cash/{receipt.id}")).text
    assert _applications(stack) == []

    # A collector may look but not apply, even by posting the form.
    collector = await stack.signed_in(Role.COLLECTOR)
    assert (await collector.get(f"/cash/{receipt.id}")).status_code == 200
    assert (await stack.post(collector, apply, _lines([invoice], ["49.48"]))).status_code == 403
    assert _applications(stack) == []

    # The same form twice (one request id): one application, the order paid once.
    form = {"csrftoken": http.csrftoken, "request_id": uuid.uuid4().hex} | _lines([invoice], ["49.48"])  # type: ignore[attr-defined]
    assert (await http.post(apply, data=form)).status_code == 303
    assert "49.48 USD applied to" in (await http.get(f"/cash/{receipt.id}")).text
    assert (await http.post(apply, data=form)).status_code == 303
    assert "was applied before" in (await http.get(f"/cash/{receipt.id}")).text
    view = await until(stack, order, lambda s: s.status == OrderStatus.PAID, "paid")
    assert str(view.totals.paid) == "49.48"
    assert [(a.order_id, a.amount_minor, a.status) for a in _applications(stack)] == [(order, 4948, "delivered")]
    with Session(stack.db.engine) as session:
        stored = session.get(CashReceipt, receipt.id)
        assert stored is not None and (stored.status, stored.unapplied_minor) == ("part_applied", 1052)
    assert cash_journals(stack, receipt.id) == {f"receipt:{receipt.id}": -6000, f"payment:{receipt.id}:1": 4948}
    check_books(stack.db.engine)


async def test_the_queue_lists_receipts_oldest_first_and_searches_open_invoices(stack: ConsoleStack) -> None:
    globex = Customer(id="C-GLOBEX", name="Globex Ltd", email="ap@globex.example")
    _, number = await invoiced(stack, globex)
    receipt = await unapplied_receipt(stack, "12.34", payer="&lt;script&gt;alert(1)&lt;/script&gt;")  # XML-escaped
    http = await stack.signed_in(Role.AUDITOR)
    listing = await http.get("/cash")
    assert receipt.id in listing.text and "12.34" in listing.text
    assert "<script>alert(1)" not in listing.text and "&lt;script&gt;" in listing.text
    home = await http.get("/")
    assert re.search(r"Cash exceptions: 1 waiting", home.text)
    for query in ("globex", "49.48", number, number[:8].lower(), "C-GLOBEX"):
        found = await http.get(f"/cash/{receipt.id}/invoices", params={"q": query})
        assert found.status_code == 200 and number in found.text, query
        assert "<html" not in found.text  # a fragment for htmx
    assert number not in (await http.get(f"/cash/{receipt.id}/invoices", params={"q": "nobody"})).text
    assert (await http.get(f"/cash/{receipt.id}/line", params={"invoice": number})).status_code == 403
    assert (await http.get("/cash/no-such-receipt")).status_code == 404
