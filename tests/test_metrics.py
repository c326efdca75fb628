"""The Temporal SDK's own metrics, served by a worker process started with O2C_METRICS_PORT."""

import asyncio
import contextlib
import signal
import subprocess
import sys

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

import workers.worker as worker
from o2c.platform.config import Settings
from tests.support import Database, free_port
from workers.worker import run_worker


async def scrape(url: str, wanted: str) -> str:
    """The metrics page once it shows ``wanted`` (the worker registers its slots as it starts polling)."""
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                page = (await http.get(url, timeout=2)).text
                if wanted in page:
                    return page
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never showed {wanted}")


async def test_a_worker_with_a_metrics_port_serves_the_sdks_metrics(
    time_env: WorkflowEnvironment, sqlite_db: Database
) -> None:
    port = free_port()
    settings = Settings(
        database_url=sqlite_db.url,
        metrics_port=port,
        payment_link_secret="a-payment-link-secret-for-this-test",  # type: ignore[arg-type]
    )
    worker = asyncio.create_task(run_worker(time_env.client, settings))
    try:
        page = await scrape(f"http://127.0.0.1:{port}/metrics", "temporal_worker_task_slots_available")
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    slots = [line for line in page.splitlines() if line.startswith("temporal_worker_task_slots_available{")]
    assert any('task_queue="o2c"' in line and 'worker_type="ActivityWorker"' in line for line in slots), slots
    assert "temporal_request" in page  # the client's own calls (the worker's polls and its describe)


def test_worker_processes_get_a_port_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--processes N`` with O2C_METRICS_PORT=P: child i is told P + i."""
    seen: list[str | None] = []

    class Child:
        returncode = 0

        def __init__(self, argv: list[str], env: dict[str, str]) -> None:
            assert argv[:3] == [sys.executable, "-m", "o2c.cli"]
            seen.append(env.get("O2C_METRICS_PORT"))

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the test process keeps its own handlers
    monkeypatch.setattr(worker, "get_settings", lambda: Settings(metrics_port=9500))
    assert worker.run_worker_processes(3) == 0
    assert seen == ["9500", "9501", "9502"]
