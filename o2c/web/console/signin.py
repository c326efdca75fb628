"""Sign-in and sign-out. A failed sign-in says only that it failed; repeated failures from one address or
for one username are slowed down (``limits`` of the sign-in throttle)."""

import time
from collections import deque

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from o2c.access import authenticate
from o2c.web.console.pages import form, render, start_session, state, text

WINDOW_SECONDS = 300.0
MAX_FAILURES = 5


class Throttle:
    """At most ``MAX_FAILURES`` failed sign-ins per key in ``WINDOW_SECONDS`` (per process)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            failures = self._failures.get(key)
            while failures and now - failures[0] > WINDOW_SECONDS:
                failures.popleft()
            if failures and len(failures) >= MAX_FAILURES:
                return True
        return False

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._failures.setdefault(key, deque()).append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def _next(request: Request, raw: str) -> str:
    return raw if raw.startswith("/") and not raw.startswith("//") else "/"


async def login(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "login.html", {"next": _next(request, request.query_params.get("next", "/"))})
    data = await form(request)
    username, password = text(data, "username"), str(data.get("password") or "")
    throttle: Throttle = request.app.state.throttle
    keys = (f"user:{username.casefold()}", f"addr:{request.client.host if request.client else '?'}")
    if throttle.blocked(*keys):
        return render(
            request,
            "login.html",
            {"error": "Too many failed sign-ins. Wait a few minutes and try again.", "next": "/"},
            status_code=429,
        )
    user = await run_in_threadpool(authenticate, state(request).engine, username, password) if username else None
    if user is None:
        throttle.failed(*keys)
        return render(
            request,
            "login.html",
            {"error": "Wrong username or password.", "next": _next(request, text(data, "next"))},
            status_code=401,
        )
    throttle.succeeded(*keys)
    start_session(request, user.username)
    return RedirectResponse(_next(request, text(data, "next")), status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


routes = [Route("/login", login, methods=["GET", "POST"], name="login"), Route("/logout", logout, methods=["POST"])]
