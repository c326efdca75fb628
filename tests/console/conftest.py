"""The finance console under test: a real worker on a dev server, the console served by uvicorn, a user
per role, and Debian's Chromium driven by Playwright for the browser tests.

``stack`` is one console with its own database and task queue per test. ``signed_in(role)`` gives an HTTP
client (httpx over ASGI, fast) signed in as that role, ``page`` a browser page, ``sign_in(page, stack, role)``
signs it in (tests/console/browser.py)."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.money import to_minor
from o2c.access import Role, add_user, set_limit
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.console import create_app
from tests.harness import running_worker
from tests.support import BackgroundServer, Database, FakeStripe, RecordingSendGrid, free_port

PASSWORD = "demo-password-for-tests"
SECRET = "o2c-test-suite-console-secret-0123456789"
# Who may write off or refund how much alone in the tests (finance managers: no limit).
LIMITS = [
    (Role.COLLECTOR, "write_off", "50.00"),
    (Role.AR_CLERK, "write_off", "100.00"),
    (Role.AR_CLERK, "refund", "100.00"),
]
CURRENCIES = ("USD", "EUR")


@dataclass
class ConsoleStack:
    db: Database
    client: Client
    o2c: O2CClient
    task_queue: str
    mail: RecordingSendGrid
    settings: Settings
    app: Any
    url: str = ""
    users: dict[Role, str] = field(default_factory=dict)  # role → username; every password is PASSWORD

    async def signed_in(self, role: Role) -> httpx.AsyncClient:
        """An HTTP client with a session for ``role``'s user; ``.csrftoken`` is the token its forms need."""
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console.test")
        await http.get("/login")
        token = http.cookies["csrftoken"]
        answer = await http.post(
            "/login", data={"username": self.users[role], "password": PASSWORD, "csrftoken": token, "next": "/"}
        )
        assert answer.status_code == 303, answer.text
        http.csrftoken = token  # type: ignore[attr-defined]
        return http

    async def post(self, http: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
        """Posts a console form as a browser would: the CSRF token and a fresh request id included."""
        form = {"csrftoken": http.csrftoken, "request_id": uuid.uuid4().hex, **data}  # type: ignore[attr-defined]
        return await http.post(path, data=form)


def add_users(db: Database) -> dict[Role, str]:
    users = {}
    for role in Role:
        username = role.value.replace("_", "-")
        add_user(db.engine, username, role.value.replace("_", " ").title(), role.value, PASSWORD)
        users[role] = username
    for role, action, amount in LIMITS:
        for currency in CURRENCIES:
            set_limit(db.engine, role, action, currency, to_minor(Decimal(amount), currency), "test")
    return users


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, sqlite_db: Database) -> AsyncIterator[ConsoleStack]:
    task_queue = f"o2c-console-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=sqlite_db.url, console_secret=SECRET)  # type: ignore[arg-type]
    o2c = O2CClient(dev_env.client, task_queue=task_queue)
    app = create_app(sqlite_db.engine, settings, o2c=o2c)
    async with running_worker(dev_env.client, sqlite_db, task_queue, stripe_api=FakeStripe(["succeeded"] * 50)) as mail:
        console = ConsoleStack(sqlite_db, dev_env.client, o2c, task_queue, mail, settings, app)
        console.users = add_users(sqlite_db)
        port = free_port()
        async with BackgroundServer(app, port):
            console.url = f"http://127.0.0.1:{port}"
            yield console


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    try:
        yield await context.new_page()
    finally:
        await context.close()
