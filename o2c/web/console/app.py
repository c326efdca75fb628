"""The finance console's ASGI app: Starlette, signed cookie sessions (itsdangerous), CSRF tokens on every
form (asgi-csrf), Jinja2 templates with autoescaping, Pico CSS and htmx served from our own origin."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

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
import o2c.web.health as health
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.body_limit import MiB
from o2c.web.browser import Throttle, protect
from o2c.web.console.pages import ConsoleState, render

STATIC = Path(__file__).parent.parent / "static"
SESSION_COOKIE = "o2c_console"


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": "There is nothing here."}, 404)


def _checks(engine: Engine, console: ConsoleState, temporal: bool) -> dict[str, health.Check]:
    """The database, and Temporal unless the console runs without it (tests that only read)."""
    checks = {"database": health.database(engine)}
    if temporal:
        checks["temporal"] = health.temporal(lambda: console.o2c.temporal if console.o2c else None)
    return checks


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
            *health.routes(_checks(engine, console, temporal=o2c is not None or connect is not None)),
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
    app.state.throttle = Throttle()
    app.state.sso = sso.registry(settings)  # None without O2C_CONSOLE_OIDC_ISSUER
    return protect(
        app,
        secret=secret,
        secure=settings.console_secure_cookies,
        samesite="Strict",
        always_protect={"/login"},
        max_bytes=1 * MiB,
    )
