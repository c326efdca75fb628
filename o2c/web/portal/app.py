"""The customer portal's ASGI app: its own process (``o2c portal``), its own signed session cookie and
secret, CSRF tokens on every form (asgi-csrf), the console's security headers, and the brand colour as a
stylesheet of its own (the policy allows no inline styles)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

import o2c.web.health as health
import o2c.web.portal.account as account
import o2c.web.portal.signin as signin
import o2c.web.portal.talk as talk
from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.browser import Throttle, protect
from o2c.web.portal.common import PortalState, render, state
from o2c.web.portal.settings import PortalSettings

STATIC = Path(__file__).parent.parent / "static"
SESSION_COOKIE = "o2c_portal"
CSRF_COOKIE = "o2c_portal_csrf"


async def brand(request: Request) -> Response:
    colour = state(request).portal.colour  # validated: #rrggbb
    css = f":root {{ --portal-brand: {colour}; }}\n"
    return Response(css, media_type="text/css")


async def root(_: Request) -> Response:
    return RedirectResponse("/portal", status_code=303)


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": "There is nothing here."}, 404)


def _checks(engine: Engine, shared: PortalState, temporal: bool) -> dict[str, health.Check]:
    """The database, and Temporal unless the portal runs without it (tests that only read)."""
    checks = {"database": health.database(engine)}
    if temporal:
        checks["temporal"] = health.temporal(lambda: shared.o2c.temporal if shared.o2c else None)
    return checks


def create_app(
    engine: Engine,
    settings: Settings,
    portal: PortalSettings,
    sendgrid: SendGridAPIClient,
    o2c: O2CClient | None = None,
    connect: Callable[[], Awaitable[O2CClient]] | None = None,
) -> ASGIApp:
    """The portal. Give it a client (tests), or ``connect`` to make one at startup (``o2c portal``)."""
    secret = portal.resolved_secret(settings.state_dir)
    shared = PortalState(engine=engine, settings=settings, portal=portal, sendgrid=sendgrid, o2c=o2c)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if shared.o2c is None and connect is not None:
            shared.o2c = await connect()
        yield

    app = Starlette(
        routes=[
            *signin.routes,
            *account.routes,
            *talk.routes,
            Route("/", root),
            Route("/portal/brand.css", brand),
            *health.routes(_checks(engine, shared, temporal=o2c is not None or connect is not None)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=int(portal.session_hours * 3600),
                # Lax, not Strict: a sign-in link is opened from a mail client, a navigation from elsewhere.
                same_site="lax",
                https_only=portal.secure_cookies,
            )
        ],
        exception_handlers={404: _not_found},
        lifespan=lifespan,
    )
    app.state.portal = shared
    app.state.throttle = Throttle()
    return protect(
        app,
        secret=secret,
        secure=portal.secure_cookies,
        samesite="Lax",
        always_protect={"/portal/sign-in", "/portal/sign-in/link", "/portal/sign-out"},
        max_bytes=64 * 1024,
        cookie_name=CSRF_COOKIE,
    )
