"""Console pages: cash_application (being built)."""

from starlette.routing import Route

from o2c.web.console.queues import Queue

QUEUES: list[Queue] = []
routes: list[Route] = []
