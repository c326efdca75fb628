"""The finance console's ASGI app: Starlette, signed cookie sessions (itsdangerous), CSRF tokens on every
form (asgi-csrf), Jinja2 templates with autoescaping, Pico CSS and htmx served from our own origin."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from asgi_csrf import asgi_csrf
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import o2c.web.console.approvals as approvals
import o2c.web.console.cash_application as cash_application
import o2c.web.console.collections as collections
import o2c.web.console.credit as credit
import o2c.web.console.customers as customers
import o2c.web.console.home as home
import o2c.web.console.orders as orders
import o2c.web.console.reporting as reporting
import o2c.web.console.signin as signin
import o2c.web.console.sso as sso
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.body_limit import BodyLimit, MiB
from o2c.web.console.pages import ConsoleState, render

STATIC = Path(__file__).parent.parent / "static"
SESSION_COOKIE = "o2c_console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SecurityHeaders:
    """No framing, no sniffing, no referrer leaking order ids, and a policy that runs only our own scripts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class FormsOnly:
    """The console's forms are url-encoded (``pages.form`` takes no files). asgi-csrf 0.11 cannot read a
    multipart body with today's python-multipart (a TypeError: a 500), so such a request is refused first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("content-type", "").startswith("multipart/"):
            await PlainTextResponse("The console takes url-encoded forms only.", 415)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": "There is nothing here."}, 404)


def create_app(
    engine: Engine,
    settings: Settings,
    o2c: O2CClient | None = None,
    connect: Callable[[], Awaitable[O2CClient]] | None = None,
) -> ASGIApp:
    """The console. Give it a client (tests), or ``connect`` to make one at startup (``o2c console``)."""
    console = ConsoleState(engine=engine, settings=settings, o2c=o2c)
    secret = settings.resolved_console_secret()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if console.o2c is None and connect is not None:
            console.o2c = await connect()
        yield

    app = Starlette(
        routes=[
            *signin.routes,
            *sso.routes,
            *home.routes,
            *credit.routes,
            *cash_application.routes,
            *collections.routes,
            *approvals.routes,
            *customers.routes,
            *orders.routes,
            *reporting.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=int(settings.console_session_hours * 3600),
                same_site="strict",
                https_only=settings.console_secure_cookies,
            )
        ],
        exception_handlers={404: _not_found},
        lifespan=lifespan,
    )
    app.state.console = console
    app.state.throttle = signin.Throttle()
    app.state.sso = sso.registry(settings)  # None without O2C_CONSOLE_OIDC_ISSUER
    protected = asgi_csrf(
        app,
        signing_secret=secret,
        always_protect={"/login"},
        cookie_secure=settings.console_secure_cookies,
        cookie_samesite="Strict",
    )
    return SecurityHeaders(BodyLimit(FormsOnly(protected), max_bytes=1 * MiB))
