"""Sign-in and sign-out. A failed sign-in says only that it failed; repeated failures from one address or
for one username are refused for a while (``o2c.web.browser.Throttle``)."""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from o2c.access import authenticate
from o2c.web.browser import Throttle
from o2c.web.console.pages import form, render, start_session, state, text


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
