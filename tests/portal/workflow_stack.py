"""The portal with a real worker on a dev server, for what a customer decides (a dispute, a promise to pay):
the order is placed, shipped and invoiced by the workflow, and the customer signs in by a link issued
straight from ``o2c.web.portal.links`` (the email round trip has its own tests)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from models.contract import Customer, OrderStatus, StatusView
from models.naming import workflow_id
from models.tables import Dispute, InvoiceLine
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.portal import PortalSettings, create_app
from o2c.web.portal.app import CSRF_COOKIE
from o2c.web.portal.links import issue_links
from tests.harness import eventually, running_worker
from tests.portal.conftest import SECRET
from tests.support import Database, FakeStripe, RecordingSendGrid, sample_order
from tests.test_workflow_paths import ship_all

HOOLI = Customer(id="C-HOOLI", name="Hooli", email="ap@hooli.example")
INITECH = Customer(id="C-INITECH", name="Initech", email="ap@initech.example")


@dataclass
class TalkStack:
    db: Database
    env: WorkflowEnvironment
    o2c: O2CClient
    app: Any
    settings: Settings

    def http(self, base_url: str = "http://portal.test") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)

    async def signed_in(self, customer: Customer) -> httpx.AsyncClient:
        http = self.http()
        [link] = issue_links(self.db.engine, customer.email, 30)
        await http.get(f"/portal/link/{link.token}")
        answer = await http.post("/portal/sign-in/link", data={"token": link.token, "csrftoken": csrf(http)})
        assert answer.status_code == 303 and answer.headers["location"] == "/portal", answer.text
        return http

    async def invoiced(self, customer: Customer) -> tuple[str, str]:
        """An order of 49.48 USD (two widgets at 19.99, a gadget at 5.00, 10% tax), shipped and invoiced."""
        order = sample_order(customer=customer)
        await self.o2c.start_order(order)
        await self.o2c.ship(order.order_id, ship_all([("WIDGET", 2), ("GADGET", 1)]))
        view = await self.until(order.order_id, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        number = view.invoices[0].number
        for _ in range(200):  # the invoice's rows are written by an activity, before the status says so
            if self.lines(number):
                return order.order_id, number
            await asyncio.sleep(0.025)
        raise AssertionError(f"invoice {number} never reached the database")

    async def until(self, order_id: str, check: Callable[[StatusView], bool], what: str) -> StatusView:
        return await eventually(self.env.client.get_workflow_handle(workflow_id(order_id)), check, what)

    def lines(self, number: str) -> list[InvoiceLine]:
        with Session(self.db.engine) as session:
            query = select(InvoiceLine).where(InvoiceLine.invoice_number == number).order_by(col(InvoiceLine.line_no))
            return list(session.exec(query).all())

    async def dispute_row(self, order_id: str) -> Dispute:
        for _ in range(200):
            with Session(self.db.engine) as session:
                row = session.exec(select(Dispute).where(Dispute.order_id == order_id)).first()
            if row is not None:
                return row
            await asyncio.sleep(0.025)
        raise AssertionError(f"no dispute of {order_id} reached the database")


def csrf(http: httpx.AsyncClient) -> str:
    return str(http.cookies[CSRF_COOKIE])


async def post(http: httpx.AsyncClient, path: str, data: dict[str, Any], request_id: str = "") -> httpx.Response:
    """A portal form as a browser posts it: the CSRF token and the rendered form's request id."""
    form = {"csrftoken": csrf(http), "request_id": request_id or uuid.uuid4().hex, **data}
    return await http.post(path, data=form)


@pytest.fixture
async def talk(dev_env: WorkflowEnvironment, sqlite_db: Database) -> AsyncIterator[TalkStack]:
    task_queue = f"o2c-portal-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=sqlite_db.url, seller_name="Acme Supplies GmbH")  # type: ignore[arg-type]
    portal = PortalSettings(secret=SECRET, public_url="http://portal.test")  # type: ignore[arg-type]
    o2c = O2CClient(dev_env.client, task_queue=task_queue)
    app = create_app(sqlite_db.engine, settings, portal, RecordingSendGrid(), o2c=o2c)  # type: ignore[arg-type]
    async with running_worker(dev_env.client, sqlite_db, task_queue, stripe_api=FakeStripe(["succeeded"] * 10)):
        yield TalkStack(sqlite_db, dev_env, o2c, app, settings)
