"""/livez and /readyz of the webhook receiver, the console, the portal and the codec server: ready when the
database (and Temporal, where the process uses it) answer, 503 naming what does not; no session needed."""

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from o2c.client import O2CClient
from o2c.platform.codec import EncryptionCodec, parse_keys
from o2c.platform.config import Settings
from o2c.platform.db import make_engine
from o2c.web.codec_server import codec_server
from o2c.web.console import create_app as console_app
from o2c.web.portal import PortalSettings
from o2c.web.portal import create_app as portal_app
from o2c.web.webhook import create_app as webhook_app
from tests.support import Database, free_port

CONSOLE_SECRET = "a-console-secret-for-this-test"
PORTAL_SECRET = "a-portal-secret-for-this-test-0123456789"


@pytest.fixture
def broken_engine() -> Iterator[Engine]:
    """An engine for a PostgreSQL server that is down (nobody listens on its port)."""
    engine = make_engine(f"postgresql+psycopg://o2c:o2c@127.0.0.1:{free_port()}/o2c")
    yield engine
    engine.dispose()


@pytest.fixture
async def unreachable_temporal() -> Client:
    """A client for a port nobody listens on (lazy: connecting happens on the first call)."""
    return await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)


async def answers(app: Any, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as http:
        return await http.get(path)


def apps(engine: Engine, temporal: Client | None) -> dict[str, Any]:
    """Each process's app, as its command makes it (with a Temporal client where the process has one)."""
    o2c = O2CClient(temporal) if temporal else None
    settings = Settings(console_secret=CONSOLE_SECRET)  # type: ignore[arg-type]
    portal = PortalSettings(secret=PORTAL_SECRET)  # type: ignore[arg-type]
    made = {
        "console": console_app(engine, settings, o2c=o2c),
        "portal": portal_app(engine, settings, portal, None, o2c=o2c),  # type: ignore[arg-type]
    }
    if temporal:
        made["webhook"] = webhook_app(temporal, "whsec_test", engine)
    return made


async def test_ready_when_the_database_and_temporal_answer(database: Database, dev_env: WorkflowEnvironment) -> None:
    for name, app in apps(database.engine, dev_env.client).items():
        live, ready = await answers(app, "/livez"), await answers(app, "/readyz")
        assert live.status_code == 200 and live.json() == {"live": True}, name
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json() == {"ready": True, "checked": ["database", "temporal"]}, name


async def test_without_temporal_the_console_and_portal_check_the_database_only(sqlite_db: Database) -> None:
    for name, app in apps(sqlite_db.engine, None).items():
        ready = await answers(app, "/readyz")
        assert ready.status_code == 200 and ready.json()["checked"] == ["database"], name


async def test_not_ready_names_the_database_when_it_does_not_answer(
    broken_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    for name, app in apps(broken_engine, dev_env.client).items():
        ready = await answers(app, "/readyz")
        assert ready.status_code == 503, (name, ready.text)
        assert ready.json() == {"ready": False, "failed": {"database": "OperationalError"}}, name
        assert (await answers(app, "/livez")).status_code == 200, f"{name}: alive, only not ready"


async def test_not_ready_names_temporal_when_it_does_not_answer(
    sqlite_db: Database, unreachable_temporal: Client
) -> None:
    for name, app in apps(sqlite_db.engine, unreachable_temporal).items():
        ready = await answers(app, "/readyz")
        assert ready.status_code == 503, (name, ready.text)
        assert list(ready.json()["failed"]) == ["temporal"], (name, ready.text)


async def test_not_ready_while_the_console_is_still_connecting(sqlite_db: Database) -> None:
    """``o2c console`` connects in its lifespan: until then its readiness names Temporal."""

    async def never() -> O2CClient:
        raise AssertionError("not called without a lifespan")

    settings = Settings(console_secret=CONSOLE_SECRET)  # type: ignore[arg-type]
    ready = await answers(console_app(sqlite_db.engine, settings, connect=never), "/readyz")
    assert ready.status_code == 503 and ready.json()["failed"] == {"temporal": "NotConnected"}


async def test_health_routes_need_no_session_and_set_none(sqlite_db: Database) -> None:
    """No cookie in, none out: a probe is not redirected to sign in and opens no session."""
    for name, app in apps(sqlite_db.engine, None).items():
        for path in ("/livez", "/readyz"):
            answer = await answers(app, path)
            assert answer.status_code == 200 and "location" not in answer.headers, (name, path)
            assert answer.headers["content-type"] == "application/json", (name, path)
            assert f"o2c_{name}=" not in answer.headers.get("set-cookie", ""), (name, path)
        page, sign_in = ("/", "/login") if name == "console" else ("/portal", "/portal/sign-in")
        refused = await answers(app, page)  # the same client without a session: its pages send it to sign in
        assert refused.status_code in (302, 303) and refused.headers["location"].startswith(sign_in), name


@pytest.fixture
def codec_app() -> Any:
    key = base64.b64encode(bytes(32)).decode()
    return codec_server(EncryptionCodec(parse_keys(f"k1:{key}")), "a-codec-token", [])


async def test_the_codec_server_is_live_without_its_token(codec_app: Any) -> None:
    live = await answers(codec_app, "/livez")
    assert live.status_code == 200 and live.json() == {"live": True}
    assert (await answers(codec_app, "/readyz")).status_code == 404  # nothing to be ready for
