"""The home page: every work queue with its count and the age of its oldest item."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import o2c.web.console.approvals as approvals
import o2c.web.console.cash_application as cash_application
import o2c.web.console.collections as collections
import o2c.web.console.credit as credit
from o2c.access import Permission
from o2c.web.console.pages import read, render, requires
from o2c.web.console.queues import Queue

QUEUES: list[Queue] = [*credit.QUEUES, *cash_application.QUEUES, *collections.QUEUES, *approvals.QUEUES]


@requires(Permission.VIEW)
async def home(request: Request) -> Response:
    sizes = await read(request, lambda engine: [(queue, queue.size(engine)) for queue in QUEUES])
    return render(request, "home.html", {"queues": sizes})


routes = [Route("/", home, name="home")]
