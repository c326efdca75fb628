"""Threads of one worker queue for SQLite's single writer on a lock of ours, in order, rather than in
SQLite's busy handler (sleeps of up to 100 ms while the database stands idle); PostgreSQL needs none."""

import threading

from sqlalchemy import text
from sqlmodel import select

from activities.orders import audit
from models.tables import AuditEntry
from o2c.db import _writer, transaction
from tests.support import Database


def test_sqlite_writers_queue_on_one_lock_per_engine(database: Database) -> None:
    lock = _writer(database.engine)
    if database.kind != "sqlite":
        assert not hasattr(lock, "acquire"), "PostgreSQL locks rows, not the database"
        return
    assert lock is _writer(database.engine)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(database.engine) as session:
            session.execute(text("SELECT 1"))
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    assert not lock.acquire(blocking=False), "another thread waits here while one writes"  # type: ignore[attr-defined]
    leave.set()
    holder.join(10)
    assert lock.acquire(blocking=False)  # type: ignore[attr-defined]
    lock.release()  # type: ignore[attr-defined]
    with transaction(database.engine) as session:  # and the same thread may write again
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_an_audit_entry_is_written_once_per_key(database: Database) -> None:
    """A retried step's audit entry is dropped by the database (INSERT … ON CONFLICT DO NOTHING, both
    dialects): the first one stays as written."""
    for detail in ("first attempt", "retry"):
        with transaction(database.engine) as session:
            audit(session, "retry-key", "O1", "invoice_issued", "workflow", detail)
    with transaction(database.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.dedupe_key == "retry-key")).all()
    assert [row.detail for row in rows] == ["first attempt"]
