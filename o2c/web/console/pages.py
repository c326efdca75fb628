"""What every console page shares: the signed-in user and their permission, templates, flash messages,
paging, and sending a decision through the workflow's own update with the user as its ``by``."""

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from babel.numbers import format_currency
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from models.money import from_minor
from o2c.access import Permission, SignedIn, find_user
from o2c.client import DecisionRefused, InvalidInput, O2CClient, O2CError, UnknownOrder
from o2c.platform.config import Settings

TEMPLATES = Path(__file__).with_name("templates")
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class ConsoleState:
    """What the app holds for its pages: the database it reads lists from, the client it decides through."""

    engine: Engine
    settings: Settings
    o2c: O2CClient | None = None  # set at startup (or by a test)
    locale: str = "en_GB"

    def client(self) -> O2CClient:
        if self.o2c is None:
            raise RuntimeError("the console is not connected to Temporal yet")
        return self.o2c


def state(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def money(minor: int | None, currency: str, locale: str = "en_GB") -> str:
    if minor is None:
        return "—"
    return format_currency(from_minor(minor, currency), currency, locale=locale)


def age_days(since: datetime | date | None, today: date | None = None) -> int | None:
    if since is None:
        return None
    day = since.date() if isinstance(since, datetime) else since
    return ((today or datetime.now(UTC).date()) - day).days


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["when"] = _when
templates.env.globals["money"] = money
templates.env.globals["age_days"] = age_days
templates.env.globals["Permission"] = Permission


def current_user(request: Request) -> SignedIn | None:
    """The session's user as the database has them now: deactivated or stripped of a role, it counts at once."""
    user: SignedIn | None = request.scope.get("o2c.user")
    return user


def start_session(request: Request, username: str) -> None:
    """The session of a signed-in user, the same after a password or a single sign-on. It ends
    ``console_session_hours`` after this moment however busy it is: the cookie is re-signed whenever the
    session changes (a flash message), so its own timestamp is not the sign-in's."""
    request.session.clear()
    request.session["user"] = username
    request.session["since"] = int(time.time())


def _session_username(request: Request) -> str | None:
    since = request.session.get("since")
    hours = state(request).settings.console_session_hours
    if not isinstance(since, int) or time.time() - since > hours * 3600:
        return None
    username = request.session.get("user")
    return username if isinstance(username, str) else None


def requires(permission: Permission) -> Callable[[Endpoint], Endpoint]:
    """Every console endpoint: no session, to the sign-in page; a role without the permission, 403."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            username = _session_username(request)
            user = await run_in_threadpool(find_user, state(request).engine, username) if username else None
            if user is None:
                request.session.clear()
                if request.method == "GET":
                    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
                return templates.TemplateResponse(
                    request, "error.html", {"title": "Signed out", "message": "Sign in again."}, status_code=401
                )
            request.scope["o2c.user"] = user
            if not user.may(permission):
                return render(
                    request,
                    "error.html",
                    {"title": "Not allowed", "message": f"Your role may not do this ({permission.value})."},
                    status_code=403,
                )
            return await endpoint(request)

        guarded.permission = permission  # type: ignore[attr-defined]  # read by the security tests
        return guarded

    return wrap


def flash(request: Request, kind: str, message: str) -> None:
    # A new list: the session notices an assignment, not an append to the list it already holds.
    request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "message": message}]


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    console = state(request)
    context = dict(context or {})
    context.setdefault("user", current_user(request))
    context["flashes"] = request.session.pop("flash", [])
    context["csrftoken"] = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    context["temporal_ui"] = console.settings.resolved_temporal_ui_url()
    context["locale"] = console.locale
    context["new_request_id"] = uuid.uuid4().hex
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def back(request: Request, fallback: str) -> RedirectResponse:
    """After a POST, to the page it came from (our own paths only), so a reload does not post again."""
    target = str(request.query_params.get("back") or "")
    return RedirectResponse(target if target.startswith("/") and not target.startswith("//") else fallback, 303)


async def form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=200)


def text(data: FormData, name: str, default: str = "") -> str:
    value = data.get(name, default)
    return value.strip() if isinstance(value, str) else default


async def read(request: Request, query: Callable[..., T], *args: Any) -> T:
    """Runs a database read in the thread pool: ``query(engine, *args)``."""
    return await run_in_threadpool(query, state(request).engine, *args)


@dataclass
class Paged:
    """One page of a list: ``limit + 1`` rows are read, so whether a next page exists costs nothing more."""

    items: Sequence[Any]
    page: int
    per_page: int
    has_next: bool
    total: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, math.ceil(self.total / self.per_page))


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def paged(rows: Sequence[Any], page: int, per_page: int, total: int | None = None) -> Paged:
    return Paged(rows[:per_page], page, per_page, len(rows) > per_page, total)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    status: str | None = None


async def decide(request: Request, order_id: str, name: str, fields: dict[str, Any]) -> Outcome:
    """Sends the order's update ``name`` exactly as ``o2c finance`` does, with the signed-in user as ``by``.

    ``request_id`` comes from the form (a fresh one per rendered form), so a double submit is one decision."""
    user = current_user(request)
    assert user is not None, "decide() runs behind requires()"
    payload = {k: v for k, v in fields.items() if v not in (None, "")}
    payload["by"] = user.username
    method = getattr(state(request).client(), name)
    try:
        result = await method(order_id, payload)
    except (DecisionRefused, InvalidInput, UnknownOrder) as exc:
        return Outcome(False, str(exc))
    except O2CError as exc:
        return Outcome(False, f"{name} failed: {exc}")
    return Outcome(result.accepted, result.message, result.status)


def amount_field(data: FormData, name: str = "amount") -> Decimal | None:
    """A decimal amount from a form, or None when left empty; the contract checks it against the currency."""
    raw = text(data, name).replace(",", "")
    if not raw:
        return None
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise ValueError(f"{name}: {raw!r} is not an amount") from None
