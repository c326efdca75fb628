"""The credit holds queue: the engine's figures and the hold's expiry on the page, and finance's answer going
through the workflow's own update (checked in the workflow's status and the credit decisions on record)."""

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType

from models.activity_io import CreditAssessment, CreditFigures, RiskScore
from models.contract import OrderStatus
from models.naming import workflow_id
from models.tables import AuditEntry, CreditDecision, EmailOutbox, Order
from o2c.access import Role
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from o2c.web.console.credit import hold_queue, holds
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.harness import eventually
from tests.seed import add_customer, add_order
from tests.support import Database, sample_order

EXPIRES = re.compile(r"expires (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")


async def until(check: Callable[[], Any], what: str) -> Any:
    for _ in range(400):
        if found := check():
            return found
        await asyncio.sleep(0.025)
    raise AssertionError(f"never reached: {what}")


def newest_decision(stack: ConsoleStack, order_id: str) -> CreditDecision | None:
    with Session(stack.db.engine) as session:
        return session.exec(
            select(CreditDecision).where(CreditDecision.order_id == order_id).order_by(col(CreditDecision.id).desc())
        ).first()


def order_status(stack: ConsoleStack, order_id: str) -> str | None:
    with Session(stack.db.engine) as session:
        order = session.get(Order, order_id)
        return order.status if order else None


async def held_order(stack: ConsoleStack) -> Any:
    """An order over the new customer's default limit (10,000 USD): 25,000 + 10 % tax, held for finance."""
    order = sample_order(lines=[("REACTOR", 1, "25000.00")])
    handle = await stack.o2c.start_order(order)
    await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "on hold")
    await until(lambda: order_status(stack, order.order_id) == "CREDIT_HOLD", "the hold in the database")
    return order.order_id, handle


async def hold_timer_started(stack: ConsoleStack, order_id: str) -> datetime:
    """When the workflow started its hold's clock: its first timer (the reminder) after the hold."""
    for _ in range(200):
        async for event in stack.client.get_workflow_handle(workflow_id(order_id)).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                return event.event_time.ToDatetime(tzinfo=UTC)
        await asyncio.sleep(0.05)
    raise AssertionError("the hold never started its timer")


async def test_a_credit_controller_approves_a_hold_in_the_browser(stack: ConsoleStack, page: Any) -> None:
    order_id, handle = await held_order(stack)
    await sign_in(page, stack, Role.CREDIT_CONTROLLER)
    held = page.locator("#queue-credit-holds .count")
    assert "1 waiting" in await held.inner_text()
    await screenshot(page, "home")
    await page.goto(f"{stack.url}/credit-holds")
    hold = page.locator(f"#hold-{order_id}")
    shown = await hold.inner_text()
    assert "would exceed the limit" in shown and "US$27,500.00" in shown and "US$10,000.00" in shown
    await screenshot(page, "credit-holds")
    await hold.get_by_label("Note (optional)").fill("bank guarantee received")
    await hold.get_by_role("button", name=f"Approve credit for order {order_id}").click()
    await page.wait_for_url(f"{stack.url}/credit-holds")
    assert "credit approved" in await page.get_by_role("status").first.inner_text()
    view = await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
    assert view.credit_decision == "approved by credit-controller"
    decision = await until(
        lambda: (d := newest_decision(stack, order_id)) is not None and d.decision == "approved" and d, "on record"
    )
    assert (decision.decided_by, decision.reason) == ("credit-controller", "bank guarantee received")
    await page.goto(f"{stack.url}/credit-holds")
    assert await page.locator(f"#hold-{order_id}").count() == 0
    http = await stack.signed_in(Role.CREDIT_CONTROLLER)  # a second answer: the workflow's refusal is shown
    await stack.post(http, f"/credit-holds/{order_id}/reject", {"reason": "changed my mind"})
    assert "the order is not on credit hold (it is AWAITING_SHIPMENT)" in (await http.get("/credit-holds")).text
    assert (await eventually(handle, lambda s: True, "status")).status == OrderStatus.AWAITING_SHIPMENT


async def test_the_hold_shows_the_workflows_expiry_and_a_rejection_needs_a_reason(stack: ConsoleStack) -> None:
    order_id, handle = await held_order(stack)
    http = await stack.signed_in(Role.CREDIT_CONTROLLER)
    home = await http.get("/")
    assert "Credit holds: 1 waiting" in home.text
    listing = await http.get("/credit-holds")
    assert listing.status_code == 200 and f'href="/orders/{order_id}"' in listing.text
    assert 'href="/customers/CUST-1"' in listing.text and "would exceed the limit" in listing.text
    match = EXPIRES.search(listing.text)
    assert match, listing.text
    shown = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    expected = await hold_timer_started(stack, order_id) + timedelta(days=stack.settings.credit_hold_expiry_days)
    assert abs(shown - expected) < timedelta(minutes=2), (shown, expected)

    refused = await stack.post(http, f"/credit-holds/{order_id}/reject", {"reason": ""})
    assert refused.status_code == 303
    assert "a rejection needs a reason" in (await http.get("/credit-holds")).text
    auditor = await stack.signed_in(Role.AUDITOR)
    forbidden = await stack.post(auditor, f"/credit-holds/{order_id}/approve", {"note": "looks fine"})
    assert forbidden.status_code == 403
    await asyncio.sleep(0.3)  # anything sent would have reached the workflow by now
    view = await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "still on hold")
    assert [d.by for d in view.credit_decisions] == ["credit-engine"]

    await stack.post(http, f"/credit-holds/{order_id}/reject", {"reason": "exposure too high"})
    await eventually(handle, lambda s: s.status == OrderStatus.REJECTED, "rejected")
    decision = await until(
        lambda: (d := newest_decision(stack, order_id)) is not None and d.decision == "rejected" and d, "on record"
    )
    assert (decision.decided_by, decision.reason) == ("credit-controller", "exposure too high")
    assert f"hold-{order_id}" not in (await http.get("/credit-holds")).text
    assert (await handle.result()).status == OrderStatus.REJECTED  # closed: an answer now finds no order
    again = await stack.post(http, f"/credit-holds/{order_id}/approve", {})
    assert again.status_code == 303
    assert f"no open order {order_id}" in (await http.get("/credit-holds")).text


def put_on_hold(
    db: Database, order_id: str, held_at: datetime, email_sent_at: datetime | None, round_key: str = ""
) -> None:
    """The rows the workflow leaves when it holds an order: the status, the hold event, its email, the decision."""
    risk = RiskScore(score=72, source="payment-history", invoices_considered=4, late_payments=3, disputes=1)
    figures = CreditFigures(
        currency="USD",
        open_receivables_minor=50_00,
        approved_not_invoiced_minor=20_00,
        order_minor=40_00,
        overdue_invoices=1,
        risk_class="high",
        risk=risk,
    )
    reason = "1 invoice(s) overdue by more than 30 days; risk score 72 reaches 70 (payment-history)"
    assessment = CreditAssessment(
        decision="hold", reason=reason, exposure_minor=110_00, limit_minor=100_00, figures=figures
    )
    with transaction(db.engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.status = "CREDIT_HOLD"
        session.add(order)
        session.add(
            AuditEntry(
                dedupe_key=f"{order_id}:credit_hold{round_key}",
                order_id=order_id,
                event="credit_hold",
                actor="credit-engine",
                detail=reason,
                created_at=held_at,
            )
        )
        email = EmailOutbox(
            key=f"{order_id}:credit-hold{round_key}",
            order_id=order_id,
            kind="credit_hold",
            recipient="finance@o2c.example.com",
            subject="Credit hold",
            status="sent" if email_sent_at else "sending",
            created_at=held_at,
            sent_at=email_sent_at,
        )
        session.add(email)
        session.add(
            CreditDecision(
                dedupe_key=f"credit-check:{order_id}{round_key}",
                order_id=order_id,
                customer_id="C1",
                stage="order",
                decision="hold",
                decided_by="credit-engine",
                reason=reason,
                currency="USD",
                exposure_minor=110_00,
                limit_minor=100_00,
                open_receivables_minor=50_00,
                approved_not_invoiced_minor=20_00,
                order_minor=40_00,
                overdue_invoices=1,
                risk_class="high",
                risk_score=72,
                risk_source="payment-history",
                assessment=assessment.model_dump_json(),
                created_at=held_at,
            )
        )


def test_holds_are_read_oldest_first_with_the_figures_and_the_workflows_expiry(database: Database) -> None:
    """On both databases: the hold's clock starts when its email went out (the workflow waits for it), else
    at the hold; a re-check's hold is keyed by its round; pages read one row more than they show."""
    add_customer(database)
    now = datetime.now(UTC).replace(microsecond=0)
    for order_id in ("LATER", "FIRST", "RECHECK", "NO-EMAIL", "APPROVED"):
        add_order(database, order_id, 40_00)
    put_on_hold(database, "FIRST", now - timedelta(days=3), now - timedelta(days=3) + timedelta(minutes=5))
    put_on_hold(database, "LATER", now - timedelta(days=1), now - timedelta(days=1))
    put_on_hold(database, "NO-EMAIL", now - timedelta(hours=1), None)
    put_on_hold(database, "RECHECK", now - timedelta(days=9), now - timedelta(days=9))
    put_on_hold(database, "RECHECK", now - timedelta(days=2), now - timedelta(days=2, minutes=-9), ":recheck-1")
    settings = Settings(database_url=database.url, credit_hold_expiry_days=5)  # type: ignore[arg-type]

    first_page = holds(database.engine, settings, 1, 2)
    assert [h.order.id for h in first_page] == ["FIRST", "RECHECK", "LATER"]  # the extra row: a next page
    first, recheck = first_page[0], first_page[1]
    assert first.expires == now - timedelta(days=3) + timedelta(minutes=5) + timedelta(days=5)
    assert recheck.held_since == now - timedelta(days=2)
    assert recheck.expires == now - timedelta(days=2, minutes=-9) + timedelta(days=5)
    assert first.reasons == ["1 invoice(s) overdue by more than 30 days", "risk score 72 reaches 70 (payment-history)"]
    assert first.risk is not None and (first.risk.late_payments, first.risk.invoices_considered) == (3, 4)
    assert first.decision is not None and (first.decision.exposure_minor, first.decision.limit_minor) == (
        110_00,
        100_00,
    )
    assert first.customer_name == "Initech"
    [no_email] = [h for h in holds(database.engine, settings, 2, 2) if h.order.id == "NO-EMAIL"]
    assert no_email.expires == now - timedelta(hours=1) + timedelta(days=5)
    size = hold_queue(database.engine)
    assert (size.count, size.oldest) == (4, now - timedelta(days=3))
