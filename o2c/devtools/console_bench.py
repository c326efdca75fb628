"""``o2c bench console``: the finance console's pages on a big book (``o2c bench book``), timed.

A finance manager signs in over httpx's ASGI transport (no server, no network: the figures are the page's
own work, its database reads and its template). Each page is asked for twice to warm up, then ``repeat``
times; the median and 95th percentile are printed, with the statements the last request ran and the slowest
of them (``explain``: the three slowest, with their plans from EXPLAIN ANALYZE). The console's Temporal
client is one that refuses to be used: the pages measured read the database only, and the order page, which
asks its workflow, is left out."""

import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine, event, text
from temporalio.client import Client

from o2c.access import Role, add_user, find_user, set_password
from o2c.client import O2CClient
from o2c.devtools.book import book_engine
from o2c.platform.config import Settings
from o2c.web.console import create_app

USER = "bench-finance-manager"


class NoTemporal:
    """Stands in for the Temporal client: a page that reaches for it fails loudly, and is reported."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"o2c bench console measures database pages only: a page asked Temporal for {name}")


@dataclass
class Statements:
    """Every SQL statement the engine runs, with its parameters and seconds, until cleared."""

    runs: list[tuple[str, Any, float]] = field(default_factory=list)

    def watch(self, engine: Engine) -> None:
        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            conn.info["o2c.began"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            self.runs.append((statement, parameters, time.perf_counter() - conn.info.pop("o2c.began")))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)


@dataclass
class Timing:
    path: str
    status: int
    seconds: list[float]
    runs: list[tuple[str, Any, float]]  # the statements of the last request

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


def pages(engine: Engine) -> list[str]:
    """The pages people work in, on this book: the queues, the dashboard, a search by a common name's first
    letters, the largest customer's page and a typical customer's."""
    with engine.connect() as connection:
        largest = connection.execute(
            text("SELECT customer_id FROM invoices GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        typical = connection.execute(
            text("SELECT id FROM customers ORDER BY id OFFSET (SELECT count(*) / 2 FROM customers) LIMIT 1")
        ).scalar_one()
        name = connection.execute(text("SELECT name FROM customers WHERE id = :id"), {"id": typical}).scalar_one()
    prefix = name.split()[0][:5].lower()
    queues = ["/", "/credit-holds", "/cash", "/disputes", "/collections", "/approvals", "/dashboard"]
    return [
        *queues,
        f"/customers?{urlencode({'q': prefix})}",
        f"/customers?{urlencode({'q': name[:12]})}",
        f"/customers/{largest}",
        f"/customers/{typical}",
    ]


async def signed_in(app: Any, engine: Engine) -> httpx.AsyncClient:
    password = secrets.token_urlsafe(16)
    if find_user(engine, USER) is None:
        add_user(engine, USER, "Console bench", Role.FINANCE_MANAGER.value, password)
    else:
        set_password(engine, USER, password)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://console.bench"
    )
    await http.get("/login")
    form = {"username": USER, "password": password, "csrftoken": http.cookies["csrftoken"], "next": "/"}
    answer = await http.post("/login", data=form)
    if answer.status_code != 303:
        raise SystemExit(f"o2c bench console: could not sign in ({answer.status_code})")
    return http


async def time_page(http: httpx.AsyncClient, path: str, repeat: int, statements: Statements) -> Timing:
    for _ in range(2):
        await http.get(path)
    seconds, status = [], 200
    for _ in range(repeat):
        statements.runs.clear()
        began = time.perf_counter()
        answer = await http.get(path)
        seconds.append(time.perf_counter() - began)
        status = answer.status_code if answer.status_code != 200 else status
    return Timing(path, status, seconds, sorted(statements.runs, key=lambda run: -run[2]))


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        connection.rollback()
    return plan


async def bench_console(url: str, repeat: int, show_plans: bool = False) -> int:
    engine = book_engine(url)
    with engine.connect() as connection:
        invoices, customers = connection.execute(
            text("SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM customers)")
        ).one()
    settings = Settings(database_url=url, console_secret=secrets.token_urlsafe(32))
    app = create_app(engine, settings, o2c=O2CClient(cast(Client, NoTemporal())))
    statements = Statements()
    statements.watch(engine)
    print(f"o2c bench console: {customers:,} customers, {invoices:,} invoices; {repeat} requests per page")
    print(f"{'page':<44}{'status':>7}{'median ms':>11}{'p95 ms':>9}{'SQL':>5}{'slowest SQL ms':>16}")
    failed = 0
    http = await signed_in(app, engine)
    try:
        for path in pages(engine):
            timing = await time_page(http, path, repeat, statements)
            failed += timing.status != 200
            slowest = timing.runs[0][2] if timing.runs else 0.0
            print(
                f"{path[:43]:<44}{timing.status:>7}{timing.median_ms:>11.1f}{timing.p95_ms:>9.1f}"
                f"{len(timing.runs):>5}{slowest * 1000:>16.1f}"
            )
            for statement, parameters, spent in timing.runs[:3] if show_plans else []:
                print(f"  {spent * 1000:.1f} ms: " + " ".join(statement.split())[:400])
                print("    " + explain(engine, statement, parameters).replace("\n", "\n    "))
    finally:
        await http.aclose()
        engine.dispose()
    return 1 if failed else 0
