"""``o2c users``: made, listed, limited and deactivated from the command line, on the configured database."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from o2c.access import authenticate, check_limit, find_user
from o2c.access.roles import Role
from o2c.cli import parser
from o2c.platform.config import get_settings
from o2c.platform.db import make_engine


def run(argv: list[str]) -> int:
    """The command as ``o2c`` runs it, minus the logging set-up: that would bind the test's captured
    stderr into the process-wide logger, and later tests would log into a closed stream."""
    args = parser().parse_args(argv)
    return int(args.run(args))


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'o2c.db'}"
    monkeypatch.setenv("O2C_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_a_user_is_added_limited_and_deactivated(
    configured: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert run(["users", "add", "jane", "--roles", "collector", "--name", "Jane Doe", "--password-stdin"]) == 0
    assert run(["users", "limit", "collector", "write_off", "USD", "50.00", "--by", "cfo"]) == 0
    engine = make_engine(configured)
    assert authenticate(engine, "jane", "a long enough password") is not None
    assert check_limit(engine, frozenset({Role.COLLECTOR}), "write_off", "USD", 50_00).allowed
    assert not check_limit(engine, frozenset({Role.COLLECTOR}), "write_off", "USD", 50_01).allowed
    assert run(["users", "add", "jane", "--roles", "auditor", "--sso-only"]) == 1  # exists already
    assert run(["users", "add", "bob", "--roles", "cashier", "--sso-only"]) == 1  # no such role
    assert run(["users", "deactivate", "jane"]) == 0
    assert find_user(engine, "jane") is None and authenticate(engine, "jane", "a long enough password") is None
    assert run(["users", "activate", "jane"]) == 0
    assert find_user(engine, "jane") is not None
    assert run(["users", "deactivate", "nobody"]) == 1
    assert "jane" in capsys.readouterr().out
