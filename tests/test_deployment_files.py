"""docker-compose.yml cannot run here (no Docker engine), so it is checked against what the code reads; the
image's package data against the files the console serves."""

import asyncio
import base64
import glob
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from models.search_attributes import CLI_TYPES
from o2c.client import O2CClient
from o2c.platform.codec import EncryptionCodec, parse_keys
from o2c.platform.config import Settings
from o2c.platform.db import make_engine
from o2c.web.codec_server import codec_server
from o2c.web.console import create_app
from o2c.web.portal import PortalSettings
from o2c.web.portal import create_app as portal_app
from o2c.web.webhook import create_app as webhook_app
from tests.support import BackgroundServer, Database, free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
TEMPORAL_ENV = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS"}


def test_services_present() -> None:
    assert {
        "temporal-db",
        "temporal",
        "temporal-ui",
        "temporal-search-attributes",
        "app-db",
        "migrate",
        "worker",
        "webhook",
        "codec-server",
        "console",
        "portal",
    } <= set(SERVICES)


def test_dependencies_exist() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", []):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_images_pinned_and_project_built() -> None:
    for name, service in SERVICES.items():
        if "image" in service:
            assert re.search(r":\d", service["image"]), f"{name}: pin the image version"
        else:
            assert service.get("build") == ".", f"{name}: neither an image nor the project's Dockerfile"
    assert (ROOT / "Dockerfile").exists()


def test_worker_scales() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker, "fixed names or ports prevent --scale"


def test_ui_and_webhook_ports() -> None:
    assert "8233:8080" in SERVICES["temporal-ui"]["ports"]
    assert "8421:8421" in SERVICES["webhook"]["ports"]
    assert SERVICES["webhook"]["environment"]["O2C_BIND_HOST"] == "0.0.0.0"


def test_environment_names_are_settings_the_code_reads() -> None:
    known = {f"O2C_{field.upper()}" for field in Settings.model_fields} | TEMPORAL_ENV
    for name in ("worker", "webhook", "migrate", "codec-server", "console"):
        for variable in SERVICES[name]["environment"]:
            assert variable in known, f"{name} sets {variable}, which nothing reads"
    assert "O2C_DATABASE_URL" in SERVICES["worker"]["environment"]
    portal = {f"O2C_PORTAL_{field.upper()}" for field in PortalSettings.model_fields}
    for variable in SERVICES["portal"]["environment"]:
        assert variable in known | portal, f"portal sets {variable}, which nothing reads"


def test_search_attributes_created() -> None:
    command = " ".join(SERVICES["temporal-search-attributes"]["command"])
    for name, kind in CLI_TYPES.items():
        assert f"{name}={kind}" in command


def test_console_service() -> None:
    console = SERVICES["console"]
    assert console["command"] == ["o2c", "console", "--port", "8430"]
    assert "8430:8430" in console["ports"]
    assert Settings.model_fields["console_port"].default == 8430
    environment = console["environment"]
    assert environment["O2C_BIND_HOST"] == "0.0.0.0"
    # No default secret: compose refuses to start without one (${VAR:?…}), as for the pay links.
    assert environment["O2C_CONSOLE_SECRET"].startswith("${O2C_CONSOLE_SECRET:?")
    assert environment["O2C_CONSOLE_SECURE_COOKIES"] == "${O2C_CONSOLE_SECURE_COOKIES:-false}"
    assert "O2C_DATABASE_URL" in environment and "TEMPORAL_ADDRESS" in environment
    assert console["depends_on"] == {
        "app-db": {"condition": "service_healthy"},
        "temporal": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert console["restart"] == "unless-stopped"


def test_portal_service() -> None:
    """Like the console: its own port and secret (no default), Temporal for customers' decisions."""
    portal = SERVICES["portal"]
    assert portal["command"] == ["o2c", "portal", "--port", "8440"]
    assert "8440:8440" in portal["ports"] and PortalSettings.model_fields["port"].default == 8440
    environment = portal["environment"]
    assert environment["O2C_BIND_HOST"] == "0.0.0.0"
    assert environment["O2C_PORTAL_SECRET"].startswith("${O2C_PORTAL_SECRET:?")
    assert environment["O2C_PORTAL_PUBLIC_URL"] == "${O2C_PORTAL_PUBLIC_URL:-http://localhost:8440}"
    assert environment["O2C_PORTAL_SECURE_COOKIES"] == "${O2C_PORTAL_SECURE_COOKIES:-false}"
    assert "O2C_DATABASE_URL" in environment and "TEMPORAL_ADDRESS" in environment
    assert portal["depends_on"] == SERVICES["console"]["depends_on"]
    assert portal["restart"] == "unless-stopped"


def _health_probe(port: int, service: str, path: str) -> list[str]:
    """A service's health check as compose runs it inside the container, aimed at ``port``."""
    test = SERVICES[service]["healthcheck"]["test"]
    published = SERVICES[service]["command"][-1]
    assert test[:3] == ["CMD", "python", "-c"] and f"http://127.0.0.1:{published}{path}" in test[3]
    return [sys.executable, "-c", test[3].replace(f":{published}/", f":{port}/")]


async def _probe(service: str, path: str, app: Any) -> int:
    """The exit status of ``service``'s compose health check against ``app`` (None: nothing serving)."""
    port = free_port()
    probe = _health_probe(port, service, path)
    if app is None:
        return (await asyncio.to_thread(subprocess.run, probe, capture_output=True, timeout=30)).returncode
    async with BackgroundServer(app, port):
        return (await asyncio.to_thread(subprocess.run, probe, capture_output=True, timeout=30)).returncode


@pytest.fixture
def database_down() -> Iterator[Engine]:
    engine = make_engine(f"postgresql+psycopg://o2c:o2c@127.0.0.1:{free_port()}/o2c")
    yield engine
    engine.dispose()


async def test_console_health_check_is_readiness(
    sqlite_db: Database, database_down: Engine, dev_env: WorkflowEnvironment
) -> None:
    settings = Settings(console_secret="a-console-secret-for-this-test")  # type: ignore[arg-type]
    o2c = O2CClient(dev_env.client)
    assert await _probe("console", "/readyz", create_app(sqlite_db.engine, settings, o2c=o2c)) == 0
    assert await _probe("console", "/readyz", create_app(database_down, settings, o2c=o2c)) != 0
    assert await _probe("console", "/readyz", None) != 0


async def test_portal_health_check_is_readiness(
    sqlite_db: Database, database_down: Engine, dev_env: WorkflowEnvironment
) -> None:
    settings = Settings()
    portal = PortalSettings(secret="a-portal-secret-for-this-test-0123456789")  # type: ignore[arg-type]
    o2c = O2CClient(dev_env.client)
    assert await _probe("portal", "/readyz", portal_app(sqlite_db.engine, settings, portal, None, o2c=o2c)) == 0  # type: ignore[arg-type]
    assert await _probe("portal", "/readyz", portal_app(database_down, settings, portal, None, o2c=o2c)) != 0  # type: ignore[arg-type]
    assert await _probe("portal", "/readyz", None) != 0


async def test_webhook_health_check_is_readiness(
    sqlite_db: Database, database_down: Engine, dev_env: WorkflowEnvironment
) -> None:
    assert await _probe("webhook", "/readyz", webhook_app(dev_env.client, "whsec_test", sqlite_db.engine)) == 0
    assert await _probe("webhook", "/readyz", webhook_app(dev_env.client, "whsec_test", database_down)) != 0
    assert await _probe("webhook", "/readyz", None) != 0


async def test_codec_server_health_check_is_liveness() -> None:
    app = codec_server(EncryptionCodec(parse_keys(f"k1:{base64.b64encode(bytes(32)).decode()}")), "a-token", [])
    assert await _probe("codec-server", "/livez", app) == 0
    assert await _probe("codec-server", "/livez", None) != 0


def test_worker_serves_sdk_metrics_without_publishing_a_port() -> None:
    """Prometheus reaches each worker container on compose's network; a published port would stop --scale."""
    environment = SERVICES["worker"]["environment"]
    assert environment["O2C_METRICS_PORT"] == "${O2C_METRICS_PORT:-9464}"
    assert environment["O2C_BIND_HOST"] == "0.0.0.0"
    assert Settings.model_fields["metrics_port"].default is None  # off unless asked for


def test_the_package_installs_every_file_the_code_reads() -> None:
    """``pip install .`` (the Dockerfile) takes Python files and what pyproject.toml lists as package data:
    a template, stylesheet or script that is not listed is missing from the image (and a page fails there)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    listed = {
        (ROOT / package.replace(".", "/") / found).resolve()
        for package, patterns in package_data.items()
        for pattern in patterns
        for found in glob.glob(pattern, root_dir=ROOT / package.replace(".", "/"))
    }
    data_files = {
        path.resolve()
        for top in ("o2c", "models", "workflows", "activities", "workers")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc")
    }
    assert any("templates" in p.parts for p in data_files) and any("static" in p.parts for p in data_files)
    unlisted = sorted(str(p.relative_to(ROOT)) for p in data_files - listed)
    assert not unlisted, f"not in [tool.setuptools.package-data] of pyproject.toml: {unlisted}"


def test_the_image_takes_the_console_pages() -> None:
    ignored = [line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignored = [line for line in ignored if line and not line.startswith("#")]
    for kept in ("o2c/web/static", "o2c/web/console/templates", "o2c/web/portal/templates"):
        assert not [i for i in ignored if kept.startswith(i) or i.startswith(kept)], f".dockerignore drops {kept}"
    copies = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY")]
    assert "o2c" in copies
    assert ".state" in ignored and ".env" in ignored  # secrets never go to the Docker daemon
