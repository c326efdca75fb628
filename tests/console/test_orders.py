"""The order view: the workflow's ``status`` rendered for a person, with its Temporal UI link and the actions a
role may take; an order whose history is gone, from the database; an unknown order, not found."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from playwright.async_api import expect

from models.contract import Customer, OrderStatus, StatusView
from models.tables import Order
from o2c.access import Role
from o2c.platform.db import transaction
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.harness import eventually
from tests.seed import add_customer, add_invoice, add_order
from tests.support import sample_order


async def invoiced_order(
    stack: ConsoleStack, customer_id: str = "CUST-360", name: str = "Grace Hopper Ltd"
) -> StatusView:
    """A real order, shipped in full and invoiced by the worker (its PDF and UBL archived)."""
    order = sample_order(customer=Customer(id=customer_id, name=name, email="ap@hopper.example"))
    handle = await stack.o2c.start_order(order)
    shipped = [{"sku": line.sku, "quantity": line.quantity} for line in order.lines]
    await stack.o2c.ship(
        order.order_id, {"shipment_id": "S1", "lines": shipped, "carrier": "UPS", "tracking_number": "1Z999"}
    )
    return await eventually(handle, lambda s: s.status == OrderStatus.INVOICED and bool(s.invoices), "invoiced")


async def test_the_order_view_shows_an_invoiced_order_with_its_temporal_link(stack: ConsoleStack, page: Any) -> None:
    view = await invoiced_order(stack)
    number = view.invoices[0].number
    await sign_in(page, stack, Role.AR_CLERK)
    await page.goto(f"{stack.url}/orders/{view.order_id}")
    await expect(page.locator("#stage")).to_have_text("COLLECTION")
    await expect(page.locator("#status")).to_have_text("INVOICED")
    await expect(page.locator("#waiting-for")).to_contain_text(f"payment of {number}")
    invoices = page.locator("#invoices")
    await expect(invoices).to_contain_text(number)
    await expect(invoices.locator(f'a[href="/documents/{number}.pdf"]')).to_be_visible()
    await expect(invoices).to_contain_text("US$49.48")  # (2 x 19.99 + 5.00) + 10% tax
    await expect(page.locator("#shipments")).to_contain_text("1Z999")
    await expect(page.locator("#timeline")).to_contain_text("placed")
    namespace = stack.o2c.temporal.namespace
    expected = f"{stack.settings.resolved_temporal_ui_url()}/namespaces/{namespace}/workflows/order-{view.order_id}"
    assert await page.locator("#temporal-ui").get_attribute("href") == expected
    # An AR clerk may request a write-off of what is due; nothing is paid yet, so there is nothing to refund.
    await expect(page.get_by_role("link", name="Write off")).to_have_attribute(
        "href", f"/orders/{view.order_id}/write-off"
    )
    assert await page.get_by_role("link", name="Refund").count() == 0
    await screenshot(page, "order")


async def test_an_unknown_order_is_not_found(stack: ConsoleStack) -> None:
    http = await stack.signed_in(Role.AUDITOR)
    answer = await http.get("/orders/NO-SUCH-ORDER")
    assert answer.status_code == 404
    assert "There is no order NO-SUCH-ORDER" in answer.text


async def test_a_closed_order_without_history_is_shown_from_the_database(stack: ConsoleStack) -> None:
    """No workflow of this id exists (its history is gone): the book of record still tells the order."""
    add_customer(stack.db, name="Initech")
    add_order(stack.db, "OLD-1", 120_00)
    due = date.today() - timedelta(days=400)
    add_invoice(stack.db, "INV-OLD-1", "OLD-1", 120_00, due, paid_on=due)
    with transaction(stack.db.engine) as session:
        order = session.get(Order, "OLD-1")
        assert order is not None
        order.status, order.closed_at = OrderStatus.PAID.value, datetime.now(UTC) - timedelta(days=300)
        session.add(order)

    clerk = await stack.signed_in(Role.AR_CLERK)
    page = await clerk.get("/orders/OLD-1")
    assert page.status_code == 200, page.text
    assert "what the database knows" in page.text
    assert "INV-OLD-1" in page.text and 'href="/documents/INV-OLD-1.pdf"' in page.text
    assert ">PAID<" in page.text and "US$120.00" in page.text
    assert 'href="/customers/C1"' in page.text
    assert 'href="/orders/OLD-1/refund"' in page.text  # paid: an AR clerk may refund it
    assert 'href="/orders/OLD-1/write-off"' not in page.text  # no workflow left to write off on

    auditor = await stack.signed_in(Role.AUDITOR)
    read_only = await auditor.get("/orders/OLD-1")
    assert read_only.status_code == 200
    assert "/refund" not in read_only.text and "/write-off" not in read_only.text
