"""docker-compose.yml cannot run here (no Docker engine), so it is checked against what the code reads."""

import re
from pathlib import Path

import yaml

from models.search_attributes import CLI_TYPES
from o2c.platform.config import Settings

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
    for name in ("worker", "webhook", "migrate", "codec-server"):
        for variable in SERVICES[name]["environment"]:
            assert variable in known, f"{name} sets {variable}, which nothing reads"
    assert "O2C_DATABASE_URL" in SERVICES["worker"]["environment"]


def test_search_attributes_created() -> None:
    command = " ".join(SERVICES["temporal-search-attributes"]["command"])
    for name, kind in CLI_TYPES.items():
        assert f"{name}={kind}" in command
