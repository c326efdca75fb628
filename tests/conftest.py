"""Fixtures: databases (SQLite and PostgreSQL), time-skipping environments, the shared dev server."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from models import search_attributes
from o2c.platform.db import make_engine, migrate
from o2c.platform.temporal import DATA_CONVERTER
from tests.support import Database, binary, drop_postgres_schema, free_port, fresh_postgres_schema, postgres_available

# Pay-page links are signed; the suite signs them with a secret of its own (the setting has no default).
os.environ.setdefault("O2C_PAYMENT_LINK_SECRET", "o2c-test-suite-payment-link-secret")

_SA_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind; PostgreSQL gets a schema of its own per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'o2c.db'}"
        engine = make_engine(url)
        migrate(engine)
        yield Database("sqlite", url, engine)
        engine.dispose()
        return
    problem = postgres_available()
    if problem:
        if os.environ.get("O2C_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(f"SKIPPED on PostgreSQL: {problem}")
    schema, url = fresh_postgres_schema()
    engine = make_engine(url)
    migrate(engine)
    yield Database("postgresql", url, engine)
    engine.dispose()
    drop_postgres_schema(schema)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'o2c.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield Database("sqlite", url, engine)
    engine.dispose()


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test, with our search attributes registered first."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=binary("temporal-test-server")
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={name: _SA_TYPES[kind] for name, kind in search_attributes.CLI_TYPES.items()},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"o2c-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "o2c.devtools.fakestripe", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/v1/customers", auth=("sk_test_x", ""), timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One dev server for the whole run (integration, console and portal tests), in real time: each test
    has its own task queue. Our search attributes are registered at start."""
    extra = ["--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"]
    for name, kind in search_attributes.CLI_TYPES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=extra,
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()


CHROMIUM = os.environ.get("O2C_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Debian Chromium for the whole run (console and portal browser tests), driven by Playwright."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()
