"""A customer talks to a person from the portal: disputes a line of a real invoiced order, or promises to pay
it by a date. Each is the order workflow's decision (its status shows it, with the customer's words), the
console's dispute queue lists the dispute, a double submit is one decision, and nobody disputes another
customer's invoice or more than is open."""

from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlmodel import Session, select

from models.tables import ContactNote
from o2c.access import Role, add_user
from o2c.web.console import create_app as console_app
from o2c.web.portal.links import issue_links
from o2c.web.portal.standing import today
from tests.portal.workflow_stack import HOOLI, INITECH, TalkStack, post
from tests.support import BackgroundServer, free_port

CONSOLE_SECRET = "o2c-test-suite-console-secret-0123456789"
WORDS = "The gadget arrived <b>crushed</b>; photos on request"


async def console_disputes(stack: TalkStack) -> str:
    """The console's /disputes as an AR clerk reads it, built on the same database."""
    settings = stack.settings.model_copy(update={"console_secret": SecretStr(CONSOLE_SECRET)})
    app = console_app(stack.db.engine, settings, o2c=stack.o2c)
    add_user(stack.db.engine, "clerk", "AR Clerk", Role.AR_CLERK.value, "clerk-password-for-tests")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as http:
        await http.get("/login")
        token = http.cookies["csrftoken"]
        login = {"username": "clerk", "password": "clerk-password-for-tests", "csrftoken": token, "next": "/"}
        assert (await http.post("/login", data=login)).status_code == 303
        page = await http.get("/disputes")
        assert page.status_code == 200
        return page.text


async def test_a_customer_disputes_one_line_in_the_browser(talk: TalkStack, phone: Any) -> None:
    order_id, number = await talk.invoiced(HOOLI)
    gadget = next(line for line in talk.lines(number) if line.sku == "GADGET")
    port = free_port()
    async with BackgroundServer(talk.app, port):
        url = f"http://127.0.0.1:{port}"
        [link] = issue_links(talk.db.engine, HOOLI.email, 30)
        await phone.goto(f"{url}/portal/link/{link.token}")
        await phone.get_by_role("button", name="Continue to your account").click()
        await phone.get_by_role("link", name=number, exact=True).click()
        await phone.get_by_label(f"Dispute line {gadget.line_no}").check()
        await phone.get_by_label("What is wrong").fill(WORDS)
        await phone.get_by_role("button", name="Send the dispute").click()
        said = await phone.locator("#said").inner_text()
        assert "Dispute of 5.50 USD: dispute opened" in said, said

        view = await talk.until(order_id, lambda s: bool(s.disputes), "disputed")
        [dispute] = view.disputes
        assert WORDS in dispute.reason and f"line {gadget.line_no} (GADGET)" in dispute.reason
        assert (str(dispute.amount), dispute.opened_by, dispute.status) == ("5.50", "customer:C-HOOLI", "open")
        row = await talk.dispute_row(order_id)
        assert (row.amount_minor, row.opened_by) == (gadget.net_minor + gadget.tax_minor, "customer:C-HOOLI")

        await phone.reload()
        await phone.locator("tr[data-dispute] >> text=we are looking into it").wait_for()
        await phone.get_by_role("link", name="Open invoices").click()
        assert "disputed" in await phone.locator(f"tr[data-invoice='{number}']").inner_text()
    listed = await console_disputes(talk)
    assert "The gadget arrived &lt;b&gt;crushed&lt;/b&gt;" in listed and order_id in listed


async def test_a_double_submit_is_one_dispute_and_amounts_are_checked(talk: TalkStack) -> None:
    order_id, number = await talk.invoiced(HOOLI)
    http = await talk.signed_in(HOOLI)
    path = f"/portal/invoices/{number}/dispute"
    forged = await http.post(path, data={"reason": "no token", "request_id": "req-forged-1"})
    assert forged.status_code == 403
    too_much = await post(http, path, {"reason": "all wrong", "amount": "49.49"})
    assert too_much.status_code == 303
    shown = (await http.get(f"/portal/invoices/{number}")).text
    assert "Not sent: the disputed amount is more than is still open" in shown
    assert "Not sent" not in (await http.get(f"/portal/invoices/{number}")).text  # said once
    assert (await post(http, path, {"reason": "all wrong", "line": "99"})).status_code == 303
    assert "a line you chose is not on this invoice" in (await http.get(f"/portal/invoices/{number}")).text
    assert (await talk.o2c.status(order_id)).disputes == []

    for _ in range(2):
        assert (await post(http, path, {"reason": "all wrong", "amount": "10.00"}, "req-twice-1")).status_code == 303
    view = await talk.until(order_id, lambda s: bool(s.disputes), "disputed")
    assert [(str(d.amount), d.dispute_id) for d in view.disputes] == [("10.00", "portal-req-twice-1")]
    assert "already accepted" in (await http.get(f"/portal/invoices/{number}")).text


async def test_another_customers_invoice_cannot_be_disputed_or_promised(talk: TalkStack) -> None:
    order_id, number = await talk.invoiced(HOOLI)
    await talk.invoiced(INITECH)
    other = await talk.signed_in(INITECH)
    assert (await other.get(f"/portal/invoices/{number}")).status_code == 404
    assert (await post(other, f"/portal/invoices/{number}/dispute", {"reason": "not mine"})).status_code == 404
    day = (today() + timedelta(days=7)).isoformat()
    assert (await post(other, f"/portal/invoices/{number}/promise", {"promised_date": day})).status_code == 404
    view = await talk.o2c.status(order_id)
    assert view.disputes == [] and not [e for e in view.timeline if e.event == "promise_to_pay"]


async def test_a_promise_to_pay_reaches_the_workflow_and_the_contact_history(talk: TalkStack) -> None:
    order_id, number = await talk.invoiced(HOOLI)
    http = await talk.signed_in(HOOLI)
    day = today() + timedelta(days=10)
    form = {"promised_date": day.isoformat(), "note": "Paying after our board meets"}
    for _ in range(2):
        answer = await post(http, f"/portal/invoices/{number}/promise", form, "promise-1")
        assert answer.status_code == 303
    view = await talk.until(
        order_id, lambda s: any(e.event == "promise_to_pay" for e in s.timeline), "the promise on its timeline"
    )
    [entry] = [e for e in view.timeline if e.event == "promise_to_pay"]
    assert entry.detail == f"49.48 by {day.isoformat()} (customer:C-HOOLI)"
    with Session(talk.db.engine) as session:
        [note] = session.exec(select(ContactNote).where(ContactNote.customer_id == HOOLI.id)).all()
    assert (note.kind, note.actor, note.note, note.follow_up_on, note.order_id) == (
        "promise",
        "customer:C-HOOLI",
        "Paying after our board meets",
        day,
        order_id,
    )
    home = (await http.get("/portal")).text
    assert "promise to pay by" in home
    past = {"promised_date": (today() - timedelta(days=1)).isoformat()}
    await post(http, f"/portal/invoices/{number}/promise", past)
    assert "Not accepted" in (shown := (await http.get(f"/portal/invoices/{number}")).text)
    assert "the promised date is in the past" in shown
