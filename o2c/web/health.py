"""Liveness and readiness for the web processes (compose's health checks, a load balancer, Kubernetes probes).

``GET /livez`` answers 200 while the process serves requests at all. ``GET /readyz`` asks each dependency
(the database with ``SELECT 1``, Temporal with its gRPC health check), all at once and each within
``CHECK_TIMEOUT_SECONDS``: 200 when every one answered, else 503 with ``{"ready": false, "failed":
{name: reason}}``. The reason is the error's type only; the error itself goes to the log, not to whoever
can reach the port. Neither route needs a session or touches a workflow.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client

CHECK_TIMEOUT_SECONDS = 2.0
Check = Callable[[], Awaitable[None]]
log = structlog.get_logger("o2c.web.health")


class NotConnected(RuntimeError):
    """The process has not connected to the dependency yet (its startup is still under way)."""


def database(engine: Engine) -> Check:
    def select_one() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def check() -> None:
        await run_in_threadpool(select_one)

    return check


def temporal(client: Callable[[], Client | None]) -> Check:
    """``client`` returns the process's Temporal client, or None while it is still connecting."""

    async def check() -> None:
        connected = client()
        if connected is None:
            raise NotConnected("no Temporal client yet")
        await connected.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS))

    return check


async def live(_: Request) -> JSONResponse:
    return JSONResponse({"live": True})


def readiness(checks: dict[str, Check]) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def one(name: str, check: Check) -> str | None:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure means not ready; the reason is logged and named
            log.warning("not ready", dependency=name, error=repr(exc))
            return type(exc).__name__
        return None

    async def ready(_: Request) -> JSONResponse:
        outcomes = await asyncio.gather(*(one(name, check) for name, check in checks.items()))
        failed = {name: why for name, why in zip(checks, outcomes, strict=True) if why is not None}
        if failed:
            return JSONResponse({"ready": False, "failed": failed}, status_code=503)
        return JSONResponse({"ready": True, "checked": sorted(checks)})

    return ready


def routes(checks: dict[str, Check] | None = None) -> list[Route]:
    """``/livez``, and ``/readyz`` when there are dependencies to check (the codec server has none)."""
    found = [Route("/livez", live, methods=["GET"])]
    if checks:
        found.append(Route("/readyz", readiness(checks), methods=["GET"]))
    return found
