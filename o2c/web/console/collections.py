"""Console pages: collections (being built)."""

from starlette.routing import Route

from o2c.web.console.queues import Queue

QUEUES: list[Queue] = []
routes: list[Route] = []
