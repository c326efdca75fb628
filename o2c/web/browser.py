"""What every page served to a browser shares (the finance console and the customer portal): security
headers with a policy that runs only our own scripts, url-encoded forms only, CSRF tokens (asgi-csrf), a
cap on bodies, and a sign-in throttle."""

import time
from collections import deque

from asgi_csrf import asgi_csrf
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from o2c.web.body_limit import BodyLimit

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
    """The console's and the portal's forms are url-encoded (they take no files). asgi-csrf 0.11 cannot read a
    multipart body with today's python-multipart (a TypeError: a 500), so such a request is refused first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("content-type", "").startswith("multipart/"):
            await PlainTextResponse("Forms here are url-encoded only.", 415)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def protect(
    app: ASGIApp,
    *,
    secret: str,
    secure: bool,
    samesite: str,
    always_protect: set[str],
    max_bytes: int,
    cookie_name: str = "csrftoken",
) -> ASGIApp:
    """The app as browsers reach it: headers, body cap, forms only, then a CSRF token on every POST."""
    guarded = asgi_csrf(
        app,
        signing_secret=secret,
        cookie_name=cookie_name,
        always_protect=always_protect,
        cookie_secure=secure,
        cookie_samesite=samesite,
    )
    return SecurityHeaders(BodyLimit(FormsOnly(guarded), max_bytes=max_bytes))


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
