"""Database engines and schema migrations (Alembic), for SQLite (the embedded default) and PostgreSQL."""

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlmodel import Session

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Every transaction takes SQLite's write lock up front: read-then-write sequences (gapless
        # numbers, credit reservations) then serialize instead of failing on a stale snapshot.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        _SQLITE_WRITERS[engine] = threading.RLock()
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


# SQLite has one writer. Threads of one process queue for it here, in order, instead of in SQLite's busy
# handler, which sleeps in steps of up to 100 ms and leaves the database idle while its waiters sleep.
_SQLITE_WRITERS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()


def _writer(engine: Engine) -> AbstractContextManager[object]:
    return _SQLITE_WRITERS.get(engine) or nullcontext()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed whole or not at all."""
    with _writer(engine), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest revision; safe to run at every start."""
    command.upgrade(alembic_config(engine), "head")
