"""The console's security, over every route the app has, so a page added later is covered when it lands: no
page or action without a session, no action without its role (even posting the form by hand), no POST without
its CSRF token, no script out of data, sessions that end, and the headers and cookie flags a browser needs.

Each check reads the routes from the Starlette app underneath the middleware; each guarded endpoint carries
the ``permission`` that ``pages.requires`` set. "Changes nothing" is every row of every table and the history
of a live order in credit hold, before and after."""

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asgi_csrf
import httpx
import itsdangerous
import pytest
from sqlalchemy import select
from sqlmodel import Session, SQLModel
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from temporalio.client import WorkflowHandle

import models.tables as tables
from models.contract import OrderLine
from models.contract.orders import Customer as OrderCustomer
from models.contract.status import OrderStatus
from o2c.access import Permission, Role
from o2c.access.roles import ROLE_PERMISSIONS
from o2c.web.console import create_app
from o2c.web.console.app import SESSION_COOKIE
from tests.console.conftest import PASSWORD, SECRET, ConsoleStack
from tests.harness import eventually
from tests.seed import add_invoice, add_order
from tests.support import sample_order

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTRIBUTE_XSS = '"><img src=x onerror=alert(2)>'
RAW = (XSS, "<img src=x onerror")
PUBLIC = ("/login", "/logout", "/static", "/sso/", "/livez", "/readyz")  # sessionless (SSO callback signs one in)
CSRF_REFUSALS = (*(str(message) for message in asgi_csrf.error_messages.values()), "CSRF validation failed")
# A form that would pass for most decisions; the guard and the CSRF layer refuse it before it is read.
FORM = {"note": "security test", "reason": "security test", "amount": "1.00", "decision": "approve"}
QUERY = {name: f"{XSS}{ATTRIBUTE_XSS}" for name in ("q", "query", "search", "customer", "number", "status", "next")}


def console_app(app: Any) -> Starlette:
    """The Starlette app inside the middleware (``.app`` of each layer, ``__wrapped__`` of asgi-csrf's)."""
    seen = 0
    while not isinstance(app, Starlette):
        app = getattr(app, "app", None) or getattr(app, "__wrapped__", None)
        seen += 1
        assert app is not None and seen < 20, "no Starlette app under the console's middleware"
    return app


@dataclass(frozen=True)
class Endpoint:
    path: str  # the route's format, "/orders/{order_id}"
    method: str
    permission: Permission | None
    ints: frozenset[str]  # parameters that are numbers

    @property
    def public(self) -> bool:
        return self.path.startswith(PUBLIC)

    def url(self, values: dict[str, str]) -> str:
        params = re.findall(r"{(\w+)}", self.path)
        return self.path.format(**{p: "1" if p in self.ints else values.get(p, "X-1") for p in params})


def endpoints(app: Any) -> list[Endpoint]:
    def walk(routes: list[Any], prefix: str) -> Iterator[Endpoint]:
        for route in routes:
            if isinstance(route, Mount) and route.routes:
                yield from walk(route.routes, prefix + route.path_format)
            elif isinstance(route, Route):
                ints = frozenset(n for n, c in route.param_convertors.items() if c.regex == "[0-9]+")
                permission = getattr(route.endpoint, "permission", None)
                for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                    yield Endpoint(prefix + route.path_format, method, permission, ints)

    return list(walk(console_app(app).routes, ""))


def guarded(app: Any) -> list[Endpoint]:
    found = [e for e in endpoints(app) if not e.public]
    assert found, "the console has no guarded routes"
    return found


@dataclass
class World:
    """A customer named like a script with a live order in credit hold, and rows of every kind about them."""

    handle: WorkflowHandle[Any, Any]
    order_id: str
    customer_id: str = "C1"

    def values(self) -> dict[str, str]:
        """Path parameters by name: the rows below, or the live order (others get "X-1", numbers 1)."""
        ids = {"receipt_id": "R-SEC-1", "payment_id": "R-SEC-1", "dispute_id": "D-SEC-1", "number": "INV-SEC-1"}
        rest = {"invoice_number": "INV-SEC-1", "request_id": "AR-SEC-1", "approval_id": "AR-SEC-1", "id": "AR-SEC-1"}
        return ids | rest | {"customer_id": self.customer_id, "order_id": self.order_id}


@pytest.fixture
async def world(stack: ConsoleStack) -> World:
    order = sample_order(customer=OrderCustomer(id="C1", name=XSS, email="ap@xss.example")).model_copy(
        update={"lines": [OrderLine(sku="REACTOR", description=XSS, quantity=1, unit_price=Decimal("25000.00"))]}
    )
    handle = await stack.o2c.start_order(order)
    await eventually(handle, lambda s: s.status == OrderStatus.CREDIT_HOLD, "credit hold")
    add_order(stack.db, "SEED-1", 120_00)
    today, now = date.today(), datetime.now(UTC)
    add_invoice(stack.db, "INV-SEC-1", "SEED-1", 120_00, due=today - timedelta(days=40))
    with Session(stack.db.engine) as session:
        customer = session.get(tables.Customer, "C1")
        assert customer is not None
        customer.billing_name, customer.billing_address = XSS, ATTRIBUTE_XSS
        session.add(
            tables.CashReceipt(
                id="R-SEC-1", source="bank", booked_on=today, amount_minor=120_00, unapplied_minor=120_00,
                currency="USD", bank_reference=ATTRIBUTE_XSS, end_to_end_id=XSS, status="unapplied",
                customer_id="C1", suggestion="INV-SEC-1", created_at=now, payer_name=XSS, reference=ATTRIBUTE_XSS,
                remittance=XSS, reason=XSS, location=XSS,
            )
        )  # fmt: skip
        session.add(
            tables.Dispute(
                order_id="SEED-1", dispute_id="D-SEC-1", amount_minor=50_00, reason=XSS, status="open",
                opened_by=ATTRIBUTE_XSS, opened_at=now,
            )
        )  # fmt: skip
        session.add(
            tables.ContactNote(
                note_id="N-SEC-1", customer_id="C1", order_id="SEED-1", kind="call", outcome=XSS, note=ATTRIBUTE_XSS,
                actor="collector", created_at=now,
            )
        )  # fmt: skip
        session.add(
            tables.ApprovalRequest(
                id="AR-SEC-1", kind="write_off", order_id="SEED-1", customer_id="C1", invoice_number="INV-SEC-1",
                amount_minor=120_00, currency="USD", reason=XSS, requested_by="collector", created_at=now,
            )
        )  # fmt: skip
        session.add(
            tables.CustomerChange(
                change_id="CH-SEC-1", customer_id="C1", field="billing_name", old_value=ATTRIBUTE_XSS, new_value=XSS,
                actor="ar-clerk", reason=XSS, created_at=now,
            )
        )  # fmt: skip
        session.add(
            tables.CollectionTask(
                order_id="SEED-1", customer_id="C1", invoice_number="INV-SEC-1", step_name=XSS,
                amount_due_minor=120_00, assigned_to=ATTRIBUTE_XSS, created_at=now,
            )
        )  # fmt: skip
        session.commit()
    return World(handle, order.order_id)


async def snapshot(stack: ConsoleStack, world: World) -> tuple[dict[str, list[str]], int]:
    def rows() -> dict[str, list[str]]:
        with stack.db.engine.connect() as connection:
            return {
                table.name: sorted(repr(row) for row in connection.execute(select(table)))
                for table in SQLModel.metadata.sorted_tables
            }

    return await asyncio.to_thread(rows), len((await world.handle.fetch_history()).events)


async def settled(stack: ConsoleStack, world: World) -> tuple[dict[str, list[str]], int]:
    """The book and the order once the worker has finished what it was doing (the hold's emails)."""
    last = await snapshot(stack, world)
    for _ in range(50):
        await asyncio.sleep(0.2)
        now = await snapshot(stack, world)
        if now == last:
            return now
        last = now
    raise AssertionError("the book never came to rest")


async def unchanged(stack: ConsoleStack, world: World, before: tuple[dict[str, list[str]], int]) -> None:
    rows, events = await snapshot(stack, world)
    changed = sorted(name for name in rows if rows[name] != before[0].get(name))
    assert not changed and events == before[1], f"written: tables {changed}, order events {before[1]} -> {events}"


def anonymous(stack: ConsoleStack, app: Any = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app or stack.app), base_url="http://console.test")


def refused_by_csrf(answer: httpx.Response) -> bool:
    return answer.status_code == 403 and any(message in answer.text for message in CSRF_REFUSALS)


def to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code in (302, 303) and answer.headers["location"].startswith("/login")


def session_cookie(content: dict[str, Any], age_seconds: float, secret: str = SECRET) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it, ``age_seconds`` old."""

    class Signer(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age_seconds)

    return Signer(secret).sign(base64.b64encode(json.dumps(content).encode())).decode()


async def real_session(stack: ConsoleStack, role: Role) -> dict[str, Any]:
    """What a sign-in puts in the session (whatever keys the console keeps there)."""
    http = await stack.signed_in(role)
    content: dict[str, Any] = json.loads(base64.b64decode(itsdangerous.TimestampSigner(SECRET).unsign(
        http.cookies[SESSION_COOKIE])))  # fmt: skip
    return content


async def test_no_page_or_action_without_a_session(stack: ConsoleStack, world: World) -> None:
    routes = endpoints(stack.app)
    unguarded = [e for e in routes if e.permission is None and not e.public]
    assert not unguarded, f"endpoints not wrapped in @requires: {unguarded}"
    manager = await real_session(stack, Role.FINANCE_MANAGER)
    before = await settled(stack, world)
    forged = {
        "another secret": session_cookie(manager, 0, secret="not-the-console-secret-0123456789"),
        "no such user": session_cookie(manager | {"user": "nobody"}, 0),
    }
    async with anonymous(stack) as http, anonymous(stack) as bare:
        await http.get("/login")
        token = http.cookies["csrftoken"]
        for e in guarded(stack.app):
            url = e.url(world.values())
            for who, cookie in [("no session", None), *forged.items()]:
                http.cookies.set(SESSION_COOKIE, cookie) if cookie else http.cookies.delete(SESSION_COOKIE)
                if e.method == "GET":
                    answer = await http.get(url)
                    assert to_sign_in(answer), (e, who, answer.status_code)
                    assert answer.headers["location"] == f"/login?next={httpx.URL(url).path}"
                else:
                    answer = await http.request(e.method, url, data={**FORM, "csrftoken": token})
                    assert answer.status_code == 401 or to_sign_in(answer), (e, who, answer.status_code)
                assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            if e.method != "GET":  # no cookie at all: asgi-csrf lets it through, the guard must not
                answer = await bare.request(e.method, url, data=FORM)
                assert answer.status_code == 401 or to_sign_in(answer), (e, answer.status_code)
    await unchanged(stack, world, before)


async def test_a_role_cannot_do_another_roles_action(stack: ConsoleStack, world: World) -> None:
    clients = {role: await stack.signed_in(role) for role in Role}
    before = await settled(stack, world)
    refused = allowed_posts = 0
    for e in guarded(stack.app):
        url = e.url(world.values())
        for role, http in clients.items():
            if e.method == "GET":
                answer = await http.get(url)
            elif e.permission in ROLE_PERMISSIONS[role]:
                allowed_posts += 1
                continue
            else:
                answer = await stack.post(http, url, FORM)
            if e.permission in ROLE_PERMISSIONS[role]:
                assert answer.status_code != 403 and not to_sign_in(answer), (e, role, answer.status_code)
            else:
                assert answer.status_code == 403 and "Not allowed" in answer.text, (e, role, answer.status_code)
                refused += 1
    assert refused > 0, "no route needs more than VIEW yet"
    await unchanged(stack, world, before)
    # The same posts, by the roles that have the permission, get past the guard (it refuses no one else).
    for e in guarded(stack.app):
        if e.method != "GET":
            answer = await stack.post(clients[Role.FINANCE_MANAGER], e.url(world.values()), FORM)
            assert answer.status_code not in (401, 403), (e, answer.status_code, answer.text[:300])
    assert allowed_posts > 0


async def test_every_post_needs_its_csrf_token(stack: ConsoleStack, world: World) -> None:
    http = await stack.signed_in(Role.FINANCE_MANAGER)
    token: str = http.csrftoken  # type: ignore[attr-defined]
    async with anonymous(stack) as other:
        await other.get("/login")
        someone_elses = other.cookies["csrftoken"]  # well signed, but not this browser's
    posts = [e for e in endpoints(stack.app) if e.method != "GET"]
    assert any(e.path == "/logout" for e in posts)
    before = await settled(stack, world)
    for e in posts:
        url = e.url(world.values())
        attempts = {
            "no token": await http.request(e.method, url, data=FORM),
            "wrong token": await http.request(e.method, url, data={**FORM, "csrftoken": token[:-4] + "AAAA"}),
            "someone else's token": await http.request(e.method, url, data={**FORM, "csrftoken": someone_elses}),
            "wrong header": await http.request(e.method, url, data=FORM, headers={"x-csrftoken": someone_elses}),
            "json": await http.request(e.method, url, json={**FORM, "csrftoken": token}),
        }
        for what, answer in attempts.items():
            assert refused_by_csrf(answer), (e, what, answer.status_code, answer.text[:200])
    await unchanged(stack, world, before)
    assert (await http.get("/")).status_code == 200, "still signed in: the refused /logout did nothing"
    for e in sorted(posts, key=lambda e: e.path == "/logout"):  # sign out last
        answer = await http.request(e.method, e.url(world.values()), data={**FORM, "csrftoken": token})
        assert not refused_by_csrf(answer), (e, answer.status_code)
        header = await http.request(e.method, e.url(world.values()), data=FORM, headers={"x-csrftoken": token})
        assert not refused_by_csrf(header), (e, header.status_code)


def html_pages(app: Any) -> list[Endpoint]:
    return [e for e in endpoints(app) if e.method == "GET" and not e.path.startswith("/static")]


# Pages that list or show the customer named like a script: each must show the name, escaped.
SHOWS_THE_CUSTOMER = ("/customers", "/customers/{customer_id}", "/credit-holds", "/cash", "/disputes", "/approvals")


async def test_data_and_queries_are_escaped_on_every_page(stack: ConsoleStack, world: World) -> None:
    http = await stack.signed_in(Role.FINANCE_MANAGER)
    shown: set[str] = set()
    for e in html_pages(stack.app):
        for query in ({}, QUERY):
            answer = await http.get(e.url(world.values()), params=query)
            if not any(kind in answer.headers.get("content-type", "") for kind in ("html", "svg", "xml")):
                continue  # a PDF
            for raw in RAW:
                assert raw not in answer.text, (e.path, query, answer.text[max(0, answer.text.find(raw) - 300) :][:600])
            if ESCAPED in answer.text:
                shown.add(e.path)
    expected = {e.path for e in html_pages(stack.app)} & set(SHOWS_THE_CUSTOMER)
    assert expected <= shown, f"pages that never showed the customer's name: {sorted(expected - shown)}"
    assert shown, "no page showed the customer at all"


async def test_no_script_runs_from_data_in_chromium(stack: ConsoleStack, world: World, page: Any) -> None:
    from tests.console.browser import sign_in

    problems: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        problems.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: problems.append(message.text) if "Content Security" in message.text else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    http = await stack.signed_in(Role.FINANCE_MANAGER)
    urls = [e.url(world.values()) for e in html_pages(stack.app) if not e.public]
    shown = [url for url in urls if "text/html" in (await http.get(url)).headers.get("content-type", "")]
    assert any(url.startswith("/customers/C1") for url in shown)
    await sign_in(page, stack, Role.FINANCE_MANAGER)
    for url in shown:
        await page.goto(f"{stack.url}{url}")
        await page.wait_for_load_state("load")
        assert not problems, (url, problems)


async def test_a_session_older_than_its_hours_is_refused(stack: ConsoleStack) -> None:
    lifetime = stack.settings.console_session_hours * 3600
    auditor = await real_session(stack, Role.AUDITOR)
    async with anonymous(stack) as http:
        http.cookies.set(SESSION_COOKIE, session_cookie(auditor, lifetime - 60), "console.test")
        assert (await http.get("/")).status_code == 200
        http.cookies.set(SESSION_COOKIE, session_cookie(auditor, lifetime + 2), "console.test")
        assert to_sign_in(await http.get("/"))
    async with anonymous(stack) as http:
        await http.get("/login")
        token = http.cookies["csrftoken"]
        answer = await http.post("/login", data={"username": "auditor", "password": PASSWORD, "csrftoken": token})
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
        assert f"Max-Age={int(lifetime)};" in cookie


async def test_a_session_ends_its_hours_after_sign_in_even_when_busy(stack: ConsoleStack) -> None:
    """A request that changes the session (a decision leaves a flash message) re-signs its cookie; the session
    must still end ``console_session_hours`` after the sign-in, not that long after the last decision."""
    lifetime = 4.0
    settings = stack.settings.model_copy(update={"console_session_hours": lifetime / 3600})
    app = create_app(stack.db.engine, settings, o2c=stack.o2c)
    async with anonymous(stack, app) as http:
        await http.get("/login")
        form = {"username": "auditor", "password": PASSWORD, "csrftoken": http.cookies["csrftoken"]}
        assert (await http.post("/login", data=form)).status_code == 303
        signed_in = time.monotonic()
        first = http.cookies[SESSION_COOKIE]
        signer = itsdangerous.TimestampSigner(SECRET)
        content, at = signer.unsign(first, return_timestamp=True)
        session = json.loads(base64.b64decode(content)) | {"flash": [{"kind": "ok", "message": "decided"}]}

        class Then(itsdangerous.TimestampSigner):
            def get_timestamp(self) -> int:
                return int(at.timestamp())

        # The session as the server leaves it after a decision made at sign-in time.
        busy = Then(SECRET).sign(base64.b64encode(json.dumps(session).encode())).decode()
        await asyncio.sleep(lifetime * 0.6)
        http.cookies.set(SESSION_COOKIE, busy, "console.test")
        assert (await http.get("/")).status_code == 200  # shows the flash: the session changes
        await asyncio.sleep(lifetime + 1 - (time.monotonic() - signed_in))
        assert to_sign_in(await anonymous_with(app, first).get("/")), "the clock passed the session's hours"
        assert to_sign_in(await http.get("/")), "the session outlived console_session_hours after its sign-in"


def anonymous_with(app: Any, session: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
    http.cookies.set(SESSION_COOKIE, session, "console.test")
    return http


async def test_a_deactivated_user_or_a_removed_role_counts_on_the_next_request(
    stack: ConsoleStack, world: World
) -> None:
    needs_more = [e for e in guarded(stack.app) if e.permission not in (None, Permission.VIEW)]
    assert needs_more, "no route needs more than VIEW yet"
    manager, collector = await stack.signed_in(Role.FINANCE_MANAGER), await stack.signed_in(Role.COLLECTOR)
    target = needs_more[0]
    url = target.url(world.values())

    def change(username: str, **fields: Any) -> None:
        with Session(stack.db.engine) as session:
            user = session.get(tables.ConsoleUser, username)
            assert user is not None
            for name, value in fields.items():
                setattr(user, name, value)
            session.commit()

    assert (await collector.get("/")).status_code == 200
    change("collector", active=False)
    assert to_sign_in(await collector.get("/"))
    change("collector", active=True)
    assert to_sign_in(await collector.get("/")), "the session was cleared: reactivating does not revive it"

    change("finance-manager", roles="auditor")
    before = await settled(stack, world)
    if target.method == "GET":
        answer = await manager.get(url)
    else:
        answer = await stack.post(manager, url, FORM)
    assert answer.status_code == 403, (target, answer.status_code)
    await unchanged(stack, world, before)


async def test_security_headers_and_cookie_flags(stack: ConsoleStack) -> None:
    http = await stack.signed_in(Role.AUDITOR)
    for path in ("/", "/login", "/static/console.css", "/no-such-page"):
        headers = (await http.get(path)).headers
        csp = headers["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
            assert directive in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff"), path
    for secure in (False, True):
        settings = stack.settings.model_copy(update={"console_secure_cookies": secure})
        app = create_app(stack.db.engine, settings, o2c=stack.o2c)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console.test") as h:
            csrf = (await h.get("/login")).headers["set-cookie"]
            form = {"username": "auditor", "password": PASSWORD, "csrftoken": h.cookies["csrftoken"]}
            answer = await h.post("/login", data=form)
            assert answer.status_code == 303
            session = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
        flags = {part.strip().lower() for part in session.split(";")[1:]}
        assert {"httponly", "samesite=strict"} <= flags, session
        assert "samesite=strict" in csrf.lower(), csrf
        assert ("secure" in flags) == secure and ("secure" in csrf.lower().split("; ")) == secure, (session, csrf)


async def test_a_multipart_post_is_refused_cleanly(stack: ConsoleStack) -> None:
    """The console's forms are url-encoded; a multipart body (which asgi-csrf 0.11 cannot parse with today's
    python-multipart) is refused with a status, not a server error."""
    http = await stack.signed_in(Role.FINANCE_MANAGER)
    posts = [e for e in endpoints(stack.app) if e.method != "GET"]
    for e in posts:
        for form in (FORM, {**FORM, "csrftoken": http.csrftoken}):  # type: ignore[attr-defined]
            answer = await http.request(e.method, e.url({}), data=form, files={"file": ("a.txt", b"x")})
            assert refused_by_csrf(answer) or answer.status_code == 415, (e, answer.status_code)
