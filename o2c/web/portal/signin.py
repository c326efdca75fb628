"""Signing in by email: a link to each customer the address belongs to, the same answer whether it belongs
to any, attempts limited per address and per client; the link's page asks for a click before the token is
used (mail scanners open links), and the click uses it up."""

from urllib.parse import quote

from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from o2c.web.browser import Throttle
from o2c.web.console.pages import form, text
from o2c.web.portal.common import read, render, start_session, state
from o2c.web.portal.links import issue_links, redeem
from o2c.web.portal.mail import send_sign_in_link

MAX_EMAIL_LENGTH = 320


async def sign_in(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "sign_in.html")
    data = await form(request)
    email = text(data, "email")[:MAX_EMAIL_LENGTH]
    # Every request counts, answered or not: the throttle's "failures" here are attempts.
    throttle: Throttle = request.app.state.throttle
    keys = (f"email:{email.casefold()}", f"addr:{request.client.host if request.client else '?'}")
    if throttle.blocked(*keys):
        error = "Too many sign-in requests. Wait a few minutes and try again."
        return render(request, "sign_in.html", {"error": error, "email": email}, status_code=429)
    throttle.failed(*keys)
    portal = state(request)
    minutes = portal.portal.link_minutes
    links = await read(request, issue_links, email, minutes)
    tasks = BackgroundTasks()
    base = portal.portal.public_url.rstrip("/")
    for link in links:
        url = f"{base}/portal/link/{quote(link.token)}"
        tasks.add_task(send_sign_in_link, portal.engine, portal.settings, portal.sendgrid, link, url, minutes)
    answer = render(request, "sign_in_sent.html", {"email": email, "minutes": minutes})
    answer.background = tasks  # the page does not wait for SendGrid, so it takes as long for any address
    return answer


async def link(request: Request) -> Response:
    return render(request, "link.html", {"token": request.path_params["token"]})


async def use_link(request: Request) -> Response:
    data = await form(request)
    customer_id = await read(request, redeem, text(data, "token"))
    if customer_id is None:
        return render(request, "link_refused.html", status_code=400)
    start_session(request, customer_id)
    return RedirectResponse("/portal", status_code=303)


async def sign_out(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/portal/sign-in", status_code=303)


routes = [
    Route("/portal/sign-in", sign_in, methods=["GET", "POST"]),
    Route("/portal/link/{token}", link),
    Route("/portal/sign-in/link", use_link, methods=["POST"]),
    Route("/portal/sign-out", sign_out, methods=["POST"]),
]
