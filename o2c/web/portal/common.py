"""What every portal page shares: the signed-in customer, the reader's locale (dates and money through
Babel), the templates with the seller's branding, and reads in the thread pool."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader
from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from o2c.client import O2CClient
from o2c.platform.config import Settings
from o2c.web.console.pages import money
from o2c.web.portal.book import find_customer
from o2c.web.portal.settings import PortalSettings

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_LOCALE = "en"
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class PortalState:
    engine: Engine
    settings: Settings
    portal: PortalSettings
    sendgrid: SendGridAPIClient
    o2c: O2CClient | None = None  # decisions (a dispute, a promise) go to the order's workflow through it

    def client(self) -> O2CClient:
        if self.o2c is None:
            raise RuntimeError("the portal is not connected to Temporal yet")
        return self.o2c


def state(request: Request) -> PortalState:
    portal: PortalState = request.app.state.portal
    return portal


def locale_of(request: Request) -> str:
    """The first language of Accept-Language (by its q) that Babel knows; English otherwise."""
    wanted = []
    for n, part in enumerate(request.headers.get("accept-language", "").split(",")[:10]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and weight > 0:
            wanted.append((-weight, n, tag.strip()))
    for _, _, tag in sorted(wanted):
        try:
            return str(Locale.parse(tag, sep="-"))
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return DEFAULT_LOCALE


templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True))


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    portal = state(request)
    locale = locale_of(request)
    context = dict(context or {})
    context.setdefault("customer", request.scope.get("o2c.customer"))
    context["seller_name"] = portal.settings.seller_name
    context["csrftoken"] = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    context["lang"] = locale.split("_")[0]
    context["money"] = lambda minor, currency: money(minor, currency, locale)
    context["day"] = lambda value: format_date(value, "medium", locale=locale) if isinstance(value, date) else "—"
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def start_session(request: Request, customer_id: str) -> None:
    request.session.clear()
    request.session["customer"] = customer_id
    request.session["since"] = int(time.time())


def session_customer(request: Request) -> str | None:
    since = request.session.get("since")
    if not isinstance(since, int) or time.time() - since > state(request).portal.session_hours * 3600:
        return None
    customer_id = request.session.get("customer")
    return customer_id if isinstance(customer_id, str) else None


def signed_in(endpoint: Endpoint) -> Endpoint:
    """Every page behind the sign-in: no session (or an expired one), to the sign-in page."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        customer_id = session_customer(request)
        customer = await read(request, find_customer, customer_id) if customer_id else None
        if customer is None:
            request.session.clear()
            return RedirectResponse("/portal/sign-in", status_code=303)
        request.scope["o2c.customer"] = customer
        return await endpoint(request)

    return guarded


async def read(request: Request, query: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(query, state(request).engine, *args)
