"""Database engines and schema migrations (Alembic), for SQLite (the embedded default) and PostgreSQL."""

import contextvars
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # Windows: threads still queue on our lock, processes wait in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Every transaction takes SQLite's write lock up front: read-then-write sequences (gapless
        # numbers, credit reservations) then serialize instead of failing on a stale snapshot.
        event.listen(engine, "begin", _sqlite_begin)
        database = url.removeprefix("sqlite:///")
        file = None if database in ("", ":memory:") or url.startswith("sqlite:///file:") else Path(database)
        _SQLITE_WRITERS[engine] = WriterLock(file.with_name(file.name + ".writer") if file else None)
        if file is not None:  # an in-memory database is one per connection: its work stays in its thread
            _WRITER_THREADS[engine] = WriterThread(engine, _SQLITE_WRITERS[engine])
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A snapshot (reads only) begins deferred: in WAL mode it never waits for the writer, nor it for it.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


_READ_ONLY = "o2c_read_only"


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def insert_new(session: Session, model: type[SQLModel], rows: list[dict[str, Any]], unique: list[str]) -> int:
    """Inserts the rows in one statement, skipping any whose ``unique`` columns are taken (a retried step's
    second write); returns how many it inserted, counted from RETURNING (psycopg's rowcount is -1 here)."""
    if not rows:
        return 0
    connection = _flushed(session)
    return len(connection.execute(_prebuilt(connection, model, tuple(unique)), rows).all())


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Plain rows nobody reads back in this transaction (order and invoice lines), in one statement."""
    if rows:
        connection = _flushed(session)
        connection.execute(_prebuilt(connection, model, ()), rows)


def _flushed(session: Session) -> Connection:
    """The session's connection, with the session's pending rows written first (new rows may refer to
    them). These statements go to the connection, not through the ORM: built once and a tenth of the
    CPU of the ORM's bulk insert, all of it spent holding SQLite's single writer."""
    session.flush()
    return session.connection()


def _prebuilt(connection: Connection, model: type[SQLModel], unique: tuple[str, ...]) -> Any:
    """The model's INSERT for this dialect, built once: with ``unique``, skipping taken keys and returning
    the first of them for each row it inserts."""
    key = (connection.dialect.name, str(model.__tablename__), unique)
    statement = _STATEMENTS.get(key)
    if statement is None:
        table = SQLModel.metadata.tables[key[1]]
        if unique:
            dialect = postgresql if is_postgres(connection) else sqlite
            conflict = dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
            statement = conflict.returning(table.c[unique[0]])
        else:
            statement = insert(table)
        _STATEMENTS[key] = statement
    return statement


_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


# SQLite has one writer. Threads of one process queue for it on a lock of ours, in order, and processes
# (worker processes, the webhook receiver, the CLI) on an flock of a file beside the database, instead of
# in SQLite's busy handler, which sleeps in steps of up to 100 ms and leaves the database idle while its
# waiters sleep.
class WriterLock:
    """Re-entrant in a thread; ``lock_file`` None (an in-memory database, or no fcntl) queues threads only."""

    def __init__(self, lock_file: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._lock_file = lock_file if fcntl is not None else None
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if not self._threads.acquire(blocking):
            return False
        if self._depth == 0 and self._lock_file is not None:
            if self._fd is None:
                self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
                weakref.finalize(self, os.close, self._fd)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._threads.release()
                return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


_SQLITE_WRITERS: "weakref.WeakKeyDictionary[Engine, WriterLock]" = weakref.WeakKeyDictionary()


def _writer(engine: Engine) -> AbstractContextManager[object]:
    return _SQLITE_WRITERS.get(engine) or nullcontext()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed whole or not at all."""
    with _writer(engine), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


T = TypeVar("T")


def run_transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    """``work(session)`` as one unit of work, committed whole (or not at all) before this returns, with
    what ``work`` returned (or raised). On a SQLite file the process's writer thread runs it; elsewhere
    it runs here, as ``transaction`` would. ``work`` must not wait for another unit of work."""
    writer = _WRITER_THREADS.get(engine)
    if writer is None:
        with transaction(engine) as session:
            return work(session)
    return writer.run(work)


_Unit = tuple[Callable[[Session], Any], contextvars.Context, "Future[Any]"]


class WriterThread:
    """SQLite's single writer as one thread of the process that runs every thread's unit of work back to
    back, the units queued meanwhile in one transaction, each in a savepoint of its own (its failure
    undoes only its own writes), and answers each caller after the commit.

    Where every thread took the writer lock in turn, each handover cost the next thread's wake-up
    (about 1 ms, 15% of the time under load: README, Performance) and each unit its own BEGIN and
    COMMIT. Between processes the batch still takes the writer lock (its flock) like any transaction."""

    MAX_BATCH = 16

    def __init__(self, engine: Engine, lock: "WriterLock") -> None:
        self._engine = weakref.ref(engine)
        self._lock = lock
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        weakref.finalize(engine, self._queue.put, None)  # the thread ends with its engine

    def run(self, work: Callable[[Session], T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a unit of work cannot wait for another one: it would wait for itself")
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="o2c-sqlite-writer", daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._queue.put((work, contextvars.copy_context(), future))  # the caller's activity, its log fields
        return future.result()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # after this batch
                    break
                batch.append(item)
            engine = self._engine()
            if engine is None:
                return
            self._commit(engine, batch)
            del engine  # waiting in get(), the thread must not keep its engine alive

    def _commit(self, engine: Engine, batch: list[_Unit]) -> None:
        """The batch in one transaction: a unit that raises is rolled back to its savepoint and gets its
        exception; the others get their results once the whole batch is committed."""
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            if len(batch) == 1:  # nothing to keep apart: no savepoint
                work, context, future = batch[0]
                try:
                    with transaction(engine) as session:
                        result = context.run(work, session)
                    outcomes.append((future, result, None))  # committed: a failing commit is the unit's failure
                except Exception as exc:  # the unit's own failure: its transaction was rolled back
                    outcomes.append((future, None, exc))
            else:
                with self._lock, engine.connect() as connection, connection.begin():
                    for work, context, future in batch:
                        try:
                            with (
                                Session(
                                    connection, join_transaction_mode="create_savepoint", expire_on_commit=False
                                ) as session,
                                session.begin(),
                            ):
                                result = context.run(work, session)
                            outcomes.append((future, result, None))
                        except Exception as exc:  # rolled back to its savepoint; the others go on
                            outcomes.append((future, None, exc))
        except BaseException as exc:  # the commit (or the connection) failed: nothing of the batch is written
            for _, _, future in batch:
                future.set_exception(exc)
            return  # the thread serves on: every caller of the batch has its answer
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


_WRITER_THREADS: "weakref.WeakKeyDictionary[Engine, WriterThread]" = weakref.WeakKeyDictionary()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """Reads only, from one consistent snapshot, without queuing for SQLite's single writer (an email's
    facts and documents, say). Writing in it is a mistake: on SQLite it would upgrade to the write lock
    outside the queue of ``transaction``."""
    with Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False) as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest revision; safe to run at every start."""
    command.upgrade(alembic_config(engine), "head")
