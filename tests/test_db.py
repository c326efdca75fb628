"""Threads of one worker queue for SQLite's single writer on a lock of ours, in order, rather than in
SQLite's busy handler (sleeps of up to 100 ms while the database stands idle); PostgreSQL needs none and
locks rows. Tests named for SQLite run on it alone; the others assert what holds on each database."""

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from activities import ledger
from activities.credit import lock_customer
from activities.records import audit
from models.tables import AuditEntry, LedgerEntry
from o2c.platform.db import _WRITER_THREADS, _writer, insert_new, make_engine, run_transaction, snapshot, transaction
from tests.seed import add_customer
from tests.support import Database


@contextmanager
def writing_in_another_thread(engine: Engine, write: Callable[[Session], object] | None = None) -> Iterator[None]:
    """Another thread holds a write transaction open (after ``write``, flushed) until the block ends."""
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(engine) as session:
            if write is not None:
                write(session)
            session.flush()
            session.execute(text("SELECT 1"))
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        yield
    finally:
        leave.set()
        holder.join(10)


def test_sqlite_writers_queue_on_one_lock_per_engine(sqlite_db: Database) -> None:
    lock = _writer(sqlite_db.engine)
    assert lock is _writer(sqlite_db.engine)
    with writing_in_another_thread(sqlite_db.engine):
        assert not lock.acquire(blocking=False), "another thread waits here while one writes"  # type: ignore[attr-defined]
    assert lock.acquire(blocking=False)  # type: ignore[attr-defined]
    lock.release()  # type: ignore[attr-defined]
    with transaction(sqlite_db.engine) as session:  # and the same thread may write again
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def _finishes_within(seconds: float, work: Callable[[], object]) -> Callable[[], bool]:
    """Starts ``work`` in a thread; the answer says whether it finished ``seconds`` after the start, and
    asking it again waits for the end (up to 10 s more)."""
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        done.set()

    threading.Thread(target=run).start()
    answers = iter((seconds, 10.0))

    def finished() -> bool:
        result = done.wait(next(answers))
        assert not errors, errors
        return result

    return finished


def test_a_writer_waits_for_another_on_sqlite_only(database: Database) -> None:
    """SQLite has one writer, so a write waits while another thread's write transaction is open;
    PostgreSQL locks rows, not the database: a write of another row commits at once."""
    if database.kind == "postgresql":
        assert not hasattr(_writer(database.engine), "acquire"), "no database-wide lock of ours"

    def write_another_row() -> None:
        with transaction(database.engine) as session:
            audit(session, "meanwhile", None, "e", "test", "")

    with writing_in_another_thread(database.engine, lambda session: audit(session, "held", None, "e", "test", "")):
        finished = _finishes_within(0.5, write_another_row)
        assert finished() is (database.kind == "postgresql")
    assert finished()
    assert _audited(database.engine) == {"held", "meanwhile"}


def test_an_audit_entry_is_written_once_per_key(database: Database) -> None:
    """A retried step's audit entry is dropped by the database (INSERT … ON CONFLICT DO NOTHING, both
    dialects): the first one stays as written."""
    for detail in ("first attempt", "retry"):
        with transaction(database.engine) as session:
            audit(session, "retry-key", "O1", "invoice_issued", "workflow", detail)
    with transaction(database.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.dedupe_key == "retry-key")).all()
    assert [row.detail for row in rows] == ["first attempt"]


def test_insert_new_counts_what_it_inserted(database: Database) -> None:
    """Callers tell a first write from a retry's by the count (an email's earlier attempt, a journal
    posted before). psycopg's rowcount is -1 for this statement, which once made every retry look new."""
    now = datetime.now(UTC)
    lines = [
        {"journal": "j1", "line_no": n, "account": "1000-cash", "debit_minor": 5, "credit_minor": 0, "currency": "USD"}
        | {"posted_at": now}
        for n in (1, 2, 3)
    ]
    with transaction(database.engine) as session:
        assert insert_new(session, LedgerEntry, lines, ["journal", "line_no"]) == 3
    with transaction(database.engine) as session:
        assert insert_new(session, LedgerEntry, lines, ["journal", "line_no"]) == 0
        assert ledger.post(session, "j2", "USD", [ledger.Posting("1000-cash", debit_minor=1)] * 0) is True
        posted = [ledger.Posting("1000-cash", debit_minor=7), ledger.Posting("4000-revenue", credit_minor=7)]
        assert ledger.post(session, "j3", "USD", posted) is True
    with transaction(database.engine) as session:
        assert ledger.post(session, "j3", "USD", posted) is False
        assert len(session.exec(select(LedgerEntry).where(LedgerEntry.journal == "j3")).all()) == 2


def _audited(engine: Engine) -> set[str]:
    """The audit keys committed so far, read from a snapshot."""
    with snapshot(engine) as session:
        return set(session.exec(select(AuditEntry.dedupe_key)).all())


def test_a_snapshot_reads_without_waiting_for_the_writer(database: Database) -> None:
    """An email's facts are read from a snapshot: while another thread holds a write transaction open
    (here for up to 10 s) the snapshot reads at once and sees only what was committed."""
    with transaction(database.engine) as session:
        audit(session, "committed", None, "seen", "test", "")
    with writing_in_another_thread(
        database.engine, lambda session: audit(session, "uncommitted", None, "unseen", "test", "")
    ):
        began = time.monotonic()
        keys = _audited(database.engine)
        waited = time.monotonic() - began
    assert keys == {"committed"}
    assert waited < 5, f"the snapshot waited {waited:.1f} s for the writer"
    assert _audited(database.engine) == {"committed", "uncommitted"}


def test_processes_queue_on_a_lock_file_beside_the_database(sqlite_db: Database) -> None:
    """Worker processes, the webhook receiver and the CLI each have their own engine: two engines on one
    file stand in for two processes (an flock on separate opens of the file excludes the other)."""
    other = make_engine(sqlite_db.url)
    try:
        lock = _writer(other)
        with writing_in_another_thread(sqlite_db.engine):
            assert not lock.acquire(blocking=False), "the other 'process' waits for the lock file"  # type: ignore[attr-defined]
        assert lock.acquire(blocking=False)  # type: ignore[attr-defined]
        lock.release()  # type: ignore[attr-defined]
        with transaction(other) as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        other.dispose()


def test_credit_work_of_one_customer_waits_across_processes(database: Database) -> None:
    """Two processes (two engines) checking one customer's credit take turns: the second waits for the
    first to commit. PostgreSQL holds the customer's row, so another customer's check goes on meanwhile;
    SQLite holds the whole database."""
    add_customer(database)
    add_customer(database, id="C2", email="ap@initrode.example")
    other = make_engine(database.url)

    def lock_in_other_process(customer_id: str) -> Callable[[], object]:
        def work() -> None:
            with transaction(other) as session:
                lock_customer(session, other, customer_id)

        return work

    try:
        with writing_in_another_thread(database.engine, lambda session: lock_customer(session, database.engine, "C1")):
            same_customer = _finishes_within(0.5, lock_in_other_process("C1"))
            assert not same_customer(), "the second check of C1 waits for the first"
            another_customer = _finishes_within(2, lock_in_other_process("C2"))
            assert another_customer() is (database.kind == "postgresql")
        assert same_customer() and another_customer()
    finally:
        other.dispose()


def test_units_queued_together_commit_together_and_fail_alone(database: Database) -> None:
    """On SQLite one writer thread runs every unit of work; those that queued while it was busy go in one
    transaction, each in its own savepoint. A unit that fails is undone alone and its caller gets its
    exception; the others are committed and get their own results (PostgreSQL: each in its own thread)."""
    engine = database.engine
    writer = _WRITER_THREADS.get(engine)
    busy, go = threading.Event(), threading.Event()

    def hold(session: Session) -> str:
        audit(session, "first", None, "e", "test", "")
        busy.set()
        assert go.wait(10)
        return "first"

    def write(key: str) -> Callable[[Session], str]:
        def unit(session: Session) -> str:
            audit(session, key, None, "e", "test", "")
            if key == "fails":
                session.flush()
                raise ValueError("this unit fails after writing")
            return key

        return unit

    answers: dict[str, object] = {}

    def call(key: str, unit: Callable[[Session], str]) -> None:
        try:
            answers[key] = run_transaction(engine, unit)
        except ValueError as exc:
            answers[key] = exc

    threads = [threading.Thread(target=call, args=("first", hold))]
    threads[0].start()
    assert busy.wait(10)
    for key in ("a", "b", "fails", "c"):
        threads.append(threading.Thread(target=call, args=(key, write(key))))
        threads[-1].start()
    if writer is not None:
        deadline = time.monotonic() + 10
        while writer._queue.qsize() < 4 and time.monotonic() < deadline:  # all four wait for one batch
            time.sleep(0.01)
        assert writer._queue.qsize() == 4
    go.set()
    for thread in threads:
        thread.join(10)
    assert {k: v for k, v in answers.items() if k != "fails"} == {"first": "first", "a": "a", "b": "b", "c": "c"}
    assert isinstance(answers["fails"], ValueError)
    assert _audited(engine) == {"first", "a", "b", "c"}


def test_a_unit_of_work_runs_in_its_callers_context(database: Database) -> None:
    """Activities log with their activity's fields (context variables): on SQLite the writer thread runs
    each unit in a copy of its caller's context; elsewhere the unit runs in the caller's thread."""
    name: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="nobody")
    name.set("the caller")
    assert run_transaction(database.engine, lambda session: name.get()) == "the caller"


def test_a_unit_of_work_cannot_wait_for_another_on_sqlite(sqlite_db: Database) -> None:
    """A unit that waited for another would wait forever for the writer thread it runs on: it gets an
    error at once, and the thread serves on."""

    def nested(session: Session) -> object:
        return run_transaction(sqlite_db.engine, lambda inner: None)

    with pytest.raises(RuntimeError, match="wait for itself"):
        run_transaction(sqlite_db.engine, nested)
    assert run_transaction(sqlite_db.engine, lambda session: "still serving") == "still serving"
