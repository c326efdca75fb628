"""``o2c bench book``: a book of realistic size (by default 100,000 customers and 1,000,000 invoices over two
years, 200,000 of them open), written straight into PostgreSQL with COPY, not through the workflows, to
measure what people do on it (``o2c bench console``, the reports).

What the book holds is decided in ``book_plan`` and written, as the activities would have written it, by
``book_rows``: every money event has its journal, so the ledger balances per currency and receivables equal
the open invoices. Left out: archived PDF/UBL documents, shipments, card charges, refunds, chargebacks and
webhook events.

The rows go to one temporary file per table first. Then, in one transaction, the tables' indexes and
constraints are dropped, each table is loaded with COPY, and the indexes and constraints are built again
(as pg_restore does), so a failure leaves the database as it was; VACUUM ANALYZE follows, as autovacuum
would in time."""

import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from o2c.devtools.book_plan import Plan, Size
from o2c.devtools.book_rows import COLUMNS, Files, Writer
from o2c.platform.db import make_engine, migrate

# measured on the default book: 2.4 GiB of files and 5.4 GiB in PostgreSQL for 1,000,000 invoices
TEMP_BYTES_PER_INVOICE = 2_600
DATABASE_BYTES_PER_INVOICE = 5_800


class BookExists(Exception):
    """The database has orders: the book is not loaded over them unless asked to (``force``)."""


def generate(size: Size, folder: Path, today: date) -> Counter[str]:
    """The book's rows into one file per table in ``folder``; the rows per table."""
    plan = Plan(size, today)
    files = Files(folder)
    writer = Writer(plan, files, size.seed)
    for c in range(size.customers):
        writer.customer(c)
    writer.finish()
    files.close()
    return files.rows


def has_orders(connection: Connection) -> bool:
    return bool(connection.execute(text("SELECT EXISTS (SELECT 1 FROM orders)")).scalar())


def load(connection: Connection, folder: Path, force: bool) -> dict[str, float]:
    """The files into their tables, in the connection's transaction; seconds per table (COPY, then its keys,
    indexes and foreign keys). ``force`` empties the tables of a database that has orders."""
    if has_orders(connection):
        if not force:
            raise BookExists("this database has orders already: --force empties it first")
        connection.execute(text(f"TRUNCATE {', '.join(COLUMNS)} CASCADE"))
    rebuild = _drop_keys_and_indexes(connection)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    seconds: dict[str, float] = dict.fromkeys(COLUMNS, 0.0)
    for table, columns in COLUMNS.items():
        began = time.perf_counter()
        statement = f"COPY {table} ({', '.join(columns.split())}) FROM STDIN"
        with (folder / table).open("rb") as data, cursor.copy(statement) as copy:
            while chunk := data.read(1 << 20):
                copy.write(chunk)
        seconds[table] += time.perf_counter() - began
    for table, statement in rebuild:
        began = time.perf_counter()
        connection.execute(text(statement))
        if table in seconds:  # the other tables' foreign keys to these: empty tables, no time to speak of
            seconds[table] += time.perf_counter() - began
    return seconds


def _drop_keys_and_indexes(connection: Connection) -> list[tuple[str, str]]:
    """Drops the loaded tables' keys, unique constraints, indexes and foreign keys; returns the statements
    that build them again, in an order that works (keys, indexes, then foreign keys)."""
    tables = list(COLUMNS)
    constraints = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype IN ('p', 'u', 'f') AND (conrelid::regclass::text = ANY(:t) "
            "OR contype = 'f' AND confrelid::regclass::text = ANY(:t)) ORDER BY contype"
        ),
        {"t": tables},
    ).all()  # foreign keys ('f') first, those of the other tables to these too: they depend on the keys
    indexes = connection.execute(
        text(
            "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
            "AND c.connamespace = current_schema()::regnamespace)"
        ),
        {"t": tables},
    ).all()
    for table, name, _, _ in constraints:
        connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for _, name, _ in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
    add = [(t, f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}', kind) for t, n, kind, d in constraints]
    return (
        [(t, s) for t, s, k in add if k != "f"]
        + [(t, d) for t, _, d in indexes]
        + [(t, s) for t, s, k in add if k == "f"]
    )


def book_engine(url: str) -> Engine:
    """The engine for a ``postgresql://`` URL (through psycopg 3), its search path's schema made if missing."""
    if not url.startswith("postgresql"):
        raise SystemExit("o2c bench: the book lives in PostgreSQL: give --database postgresql://…")
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        if connection.execute(text("SELECT current_schema()")).scalar() is None:
            schema = connection.execute(text("SELECT current_setting('search_path')")).scalar_one()
            connection.execute(text(f'CREATE SCHEMA "{schema.split(",")[0].strip()}"'))
    return engine


def bench_book(url: str, size: Size, force: bool) -> int:
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < TEMP_BYTES_PER_INVOICE * size.invoices:
        print(f"o2c bench book: {free / 2**30:.1f} GiB free for the book's files: ask for fewer --invoices")
        return 1
    print(f"the book will take about {DATABASE_BYTES_PER_INVOICE * size.invoices / 2**30:.1f} GiB in PostgreSQL")
    engine = book_engine(url)
    migrate(engine)
    with engine.connect() as connection:
        if has_orders(connection) and not force:
            print("o2c bench book: this database has orders already: --force empties it first")
            return 1
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="o2c-book-") as folder:
        rows = generate(size, Path(folder), datetime.now(UTC).date())
        generated = time.perf_counter() - began
        print(
            f"generated {sum(rows.values()):,} rows in {generated:.0f} s ({time.process_time():.0f} s of CPU); "
            "loading (COPY, keys, indexes, VACUUM ANALYZE)"
        )
        with engine.begin() as connection:
            seconds = load(connection, Path(folder), force)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in COLUMNS:  # statistics for the planner, and the visibility map for index-only scans
            vacuum_began = time.perf_counter()
            connection.execute(text(f"VACUUM (ANALYZE) {table}"))
            seconds[table] += time.perf_counter() - vacuum_began
    total = time.perf_counter() - began
    with engine.connect() as connection:
        size_bytes = connection.execute(
            text(
                "SELECT sum(pg_total_relation_size(oid)) FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
            )
        ).scalar_one()
    engine.dispose()
    print(f"{'table':<24}{'rows':>12}{'seconds':>9}")
    for table, spent in seconds.items():
        print(f"{table:<24}{rows[table]:>12,}{spent:>9.1f}")
    print(
        f"o2c bench book: {size.customers:,} customers, {size.invoices:,} invoices ({size.open:,} open) in "
        f"{total:.0f} s ({generated:.0f} s generating, {total - generated:.0f} s loading); "
        f"{int(size_bytes or 0) / 2**30:.1f} GiB in PostgreSQL"
    )
    return 0
