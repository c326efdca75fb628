"""The collections worklist in the console: a collector records a promise to pay in the browser (the order's
``promise_to_pay``, and a note in the contact history); over HTTP, overdue customers are ranked by each of
amount, days overdue, risk, broken promises and last contact; a call note is written once per form; an
escalation blocks the customer's credit through the customer master; the workflow's refusals are shown."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from models.contract import Customer
from models.policy import DEFAULT_DUNNING, DunningPolicies
from models.tables import AuditEntry, ContactNote, CreditDecision, CustomerChange, Invoice, Order
from models.tables import Customer as CustomerRow
from o2c.access import Role
from o2c.platform.db import transaction
from o2c.web.console.collections import worklist
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.console.test_cash import invoiced
from tests.seed import add_invoice, add_order
from tests.support import Database

TODAY = datetime.now(UTC).date()


def notes(stack: ConsoleStack, customer_id: str) -> list[ContactNote]:
    with Session(stack.db.engine) as session:
        return list(session.exec(select(ContactNote).where(ContactNote.customer_id == customer_id)).all())


async def test_a_collector_records_a_promise_to_pay(stack: ConsoleStack, page: Any) -> None:
    order_id, _ = await invoiced(stack, Customer(id="C1", name="Initech", email="ap@initech.example"))
    add_order(stack.db, "SEED-1", 100_00)  # an older order of Initech's, overdue for 20 days
    add_invoice(stack.db, "INV-SEED-1", "SEED-1", 100_00, due=TODAY - timedelta(days=20))
    promised = TODAY + timedelta(days=7)

    await sign_in(page, stack, Role.COLLECTOR)
    await page.goto(f"{stack.url}/collections")
    await page.get_by_role("link", name="Initech").click()
    await page.get_by_label("Order", exact=True).select_option(order_id)
    await page.get_by_label("Promised date").fill(promised.isoformat())
    await page.get_by_label("Amount promised").fill("20.00")
    await page.locator("#promise-note").fill("will pay part on Friday, the rest with the next run")
    await page.get_by_role("button", name="Record the promise to pay").click()
    await page.get_by_text(f"Promise to pay on order {order_id}").wait_for()
    await screenshot(page, "collections")

    view = await stack.o2c.status(order_id)
    promises = [entry for entry in view.timeline if entry.event == "promise_to_pay"]
    assert len(promises) == 1 and "20.00" in promises[0].detail and "collector" in promises[0].detail
    assert str(promised) in view.waiting_for
    [note] = notes(stack, "C1")
    assert (note.kind, note.order_id, note.follow_up_on, note.actor) == ("promise", order_id, promised, "collector")
    assert note.outcome == f"20.00 by {promised}"
    with Session(stack.db.engine) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.event == "contact_promise")).one().actor == "collector"


def seed_worklist(db: Database) -> None:
    """Four customers: Alpha owes the most in USD but lately, Bravo the longest, Charlie in JPY with a
    broken promise, Delta nothing overdue yet; Echo's overdue invoice is paid."""
    now = datetime.now(UTC)
    with transaction(db.engine) as session:
        customers = [("A", "Alpha", "USD"), ("B", "Bravo", "USD"), ("C", "Charlie", "JPY"), ("D", "Delta", "USD")]
        for cid, name, currency in [*customers, ("E", "Echo", "USD")]:
            session.add(CustomerRow(id=cid, name=name, email=f"ap@{cid}.example", currency=currency, created_at=now))
            session.add(
                Order(
                    id=f"O-{cid}",
                    customer_id=cid,
                    currency=currency,
                    total_minor=0,
                    status="INVOICED",
                    payment_method="bank_transfer",
                    net_days=30,
                    end_of_month=False,
                    discount_percent="0",
                    discount_days=0,
                    invoicing="on_completion",
                    fingerprint="x",
                    placed_at=now,
                )
            )
        session.flush()
        for number, cid, currency, open_minor, days_late in [
            ("INV-A1", "A", "USD", 500_00, 5),
            ("INV-B1", "B", "USD", 100_00, 40),
            ("INV-B2", "B", "USD", 50_00, 10),
            ("INV-C1", "C", "JPY", 30_000, 20),
            ("INV-D1", "D", "USD", 900_00, -5),
            ("INV-E1", "E", "USD", 0, 60),
        ]:
            session.add(
                Invoice(
                    number=number,
                    order_id=f"O-{cid}",
                    customer_id=cid,
                    invoice_key=number,
                    currency=currency,
                    net_minor=max(open_minor, 1),
                    tax_minor=0,
                    total_minor=max(open_minor, 1),
                    open_minor=open_minor,
                    issued_on=TODAY - timedelta(days=days_late + 30),
                    due_date=TODAY - timedelta(days=days_late),
                    payment_reference=f"RF-{number}",
                    status="open",
                    created_at=now,
                )
            )
        for n, (cid, score) in enumerate([("A", 80), ("B", 20), ("A", None)]):
            session.add(
                CreditDecision(
                    dedupe_key=f"seed-{n}",
                    order_id=f"O-{cid}",
                    customer_id=cid,
                    stage="order",
                    decision="approve",
                    decided_by="engine",
                    reason="seeded",
                    currency="USD",
                    risk_score=score,
                    created_at=now - timedelta(days=10 - n),
                )
            )
        for cid, kind, days_ago, follow_up in [("B", "call", 3, None), ("C", "promise", 15, TODAY - timedelta(10))]:
            session.add(
                ContactNote(
                    note_id=uuid.uuid4().hex,
                    customer_id=cid,
                    order_id=f"O-{cid}",
                    kind=kind,
                    note="seeded",
                    follow_up_on=follow_up,
                    actor="collector",
                    created_at=now - timedelta(days=days_ago),
                )
            )


EXPECTED = {
    "amount": ["Charlie", "Alpha", "Bravo"],  # 30,000 JPY, then 500.00 and 150.00 USD (face value)
    "days": ["Bravo", "Charlie", "Alpha"],  # 40, 20 and 5 days past the oldest due date
    "risk": ["Alpha", "Bravo", "Charlie"],  # 80 (the newest score, not the newer decision without one), 20, none
    "promises": ["Charlie", "Alpha", "Bravo"],  # Charlie's promise fell due ten days ago, unpaid
    "contact": ["Alpha", "Charlie", "Bravo"],  # never, 15 days ago, 3 days ago
}


def ranked(html: str) -> list[str]:
    return re.findall(r'<a href="/collections/[A-E]">(\w+)</a>', html)


async def test_the_worklist_ranks_overdue_customers_by_what_matters(stack: ConsoleStack) -> None:
    seed_worklist(stack.db)
    http = await stack.signed_in(Role.AUDITOR)
    for sort, names in EXPECTED.items():
        answer = await http.get("/collections", params={"sort": sort})
        assert answer.status_code == 200 and ranked(answer.text) == names, sort
    worklist = (await http.get("/collections")).text
    bravo = worklist[worklist.index("Bravo") : worklist.index("</tr>", worklist.index("Bravo"))]
    assert "US$150.00" in bravo and ">40<" in bravo and f"third on {TODAY + timedelta(days=4)}" in bravo
    assert ranked((await http.get("/collections", params={"currency": "jpy"})).text) == ["Charlie"]
    assert "Customers overdue: 3 waiting" in (await http.get("/")).text
    charlie = (await http.get("/collections/C")).text
    assert "INV-C1" in charlie and "broken" in charlie


def test_the_worklist_ranks_alike_on_both_databases(database: Database) -> None:
    seed_worklist(database)
    policies = DunningPolicies(default=DEFAULT_DUNNING)
    for sort, names in EXPECTED.items():
        page = worklist(database.engine, 1, sort, "", policies)
        assert [row.customer_name for row in page.items] == names, sort
        assert not page.has_next
    bravo = next(row for row in page.items if row.customer_id == "B")
    assert (bravo.overdue_minor, bravo.invoices, bravo.oldest_due) == (150_00, 2, TODAY - timedelta(days=40))
    assert (bravo.risk_score, bravo.broken_promises) == (20, 0) and bravo.last_contact is not None
    assert page.extra["B"][1].name == "third"
    assert worklist(database.engine, 2, "amount", "", policies).items == []
    assert [row.customer_id for row in worklist(database.engine, 1, "days", "JPY", policies).items] == ["C"]


async def test_call_notes_escalations_and_refusals(stack: ConsoleStack) -> None:
    order_id, _ = await invoiced(stack, Customer(id="C1", name="Initech", email="ap@initech.example"))
    collector = await stack.signed_in(Role.COLLECTOR)
    page = "/collections/C1"

    call = {"csrftoken": collector.csrftoken, "request_id": uuid.uuid4().hex, "kind": "call"}  # type: ignore[attr-defined]
    call |= {"note": "left a voicemail", "outcome": "no answer", "follow_up_on": str(TODAY + timedelta(days=2))}
    assert (await collector.post(f"{page}/contact", data=call)).status_code == 303
    assert (await collector.post(f"{page}/contact", data=call)).status_code == 303  # sent twice: noted once
    assert "Call noted" in (await collector.get(page)).text
    assert [(n.kind, n.outcome, n.follow_up_on) for n in notes(stack, "C1")] == [
        ("call", "no answer", TODAY + timedelta(days=2))
    ]
    assert (await stack.post(collector, f"{page}/contact", {"kind": "fax", "note": "x"})).status_code == 303
    assert "Not noted: kind &#39;fax&#39;" in (await collector.get(page)).text

    past = {"order_id": order_id, "promised_date": str(TODAY - timedelta(days=1)), "amount": "10.00"}
    assert (await stack.post(collector, f"{page}/promise", past)).status_code == 303
    assert "the promised date is in the past" in (await collector.get(page)).text
    other = {"order_id": "SEED-NOT-HERS", "promised_date": str(TODAY), "amount": "10.00"}
    assert (await stack.post(collector, f"{page}/promise", other)).status_code == 303
    assert "is not an order of C1" in (await collector.get(page)).text
    assert [n.kind for n in notes(stack, "C1")] == ["call"]

    assert (await stack.post(collector, f"{page}/escalate", {"reason": "three reminders ignored"})).status_code == 303
    assert "Escalated: credit blocked" in (await collector.get(page)).text
    with Session(stack.db.engine) as session:
        customer = session.get(CustomerRow, "C1")
        assert customer is not None and customer.blocked
        change = session.exec(select(CustomerChange).where(CustomerChange.customer_id == "C1")).one()
        assert (change.field, change.new_value, change.actor) == ("blocked", "true", "collector")
    assert sorted(n.kind for n in notes(stack, "C1")) == ["call", "escalation"]

    auditor = await stack.signed_in(Role.AUDITOR)
    assert (await auditor.get(page)).status_code == 200
    for action in ("contact", "promise", "escalate"):
        answer = await stack.post(auditor, f"{page}/{action}", {"kind": "call", "note": "x", "reason": "xyz"})
        assert answer.status_code == 403, action
    assert len(notes(stack, "C1")) == 2
