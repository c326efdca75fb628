"""Threads of one worker queue for SQLite's single writer on a lock of ours, in order, rather than in
SQLite's busy handler (sleeps of up to 100 ms while the database stands idle); PostgreSQL needs none."""

import threading

from sqlalchemy import text

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
