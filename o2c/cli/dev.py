"""Development commands: ``o2c dev``, ``demo``, ``bench``, ``bench-worker``, ``sink``, ``mail`` and ``schemas``.

They run the tools in ``o2c.devtools``, which a production image does not ship: each command imports them
only when it runs, so the other commands work without them, and these say what is missing."""

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from o2c.cli.common import serve
from o2c.platform.config import get_settings

SCHEMAS = Path("schemas")
MISSING = "development tools are not installed in this image: run from a source checkout"


def devtools(module: str, command: str) -> ModuleType:
    """``o2c.devtools.<module>``, or the command ends with a clear error where the image left them out."""
    name = f"o2c.devtools.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not name.startswith(exc.name):
            raise
        raise SystemExit(f"o2c {command}: {MISSING}") from exc


def cmd_dev(args: argparse.Namespace) -> int:
    from o2c.platform.db import make_engine, migrate

    run_dev = devtools("devstack", "dev").run_dev  # before the database is touched

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    engine.dispose()
    return asyncio.run(run_dev(settings, with_demo=args.demo))


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "match":
        return int(devtools("match_bench", "bench").bench_match(args.lines, args.invoices, args.seed))
    if args.what in ("book", "console") and not args.database:
        raise SystemExit(f"o2c bench {args.what}: give --database postgresql://… (the book's database)")
    if args.what == "book":
        book = devtools("book", "bench")
        size = book.Size(args.customers, args.invoices or 1_000_000, args.open, args.years, args.seed)
        return int(book.bench_book(args.database, size, args.force))
    if args.what == "console":
        bench_console = devtools("console_bench", "bench").bench_console
        return int(asyncio.run(bench_console(args.database, args.repeat, args.explain)))
    run_bench = devtools("bench", "bench").run_bench
    return asyncio.run(
        run_bench(args.what, args.orders, args.processes, args.concurrency, args.sandbox == "on", args.rounds)
    )


def cmd_sink(args: argparse.Namespace) -> int:
    create_app = devtools("sendgrid_sink", "sink").create_app
    settings = get_settings()
    serve(create_app(settings.state_dir.resolve() / "mail"), args.port or settings.sendgrid_sink_port)
    return 0


def cmd_demo(_: argparse.Namespace) -> int:
    demo_main = devtools("demo", "demo").demo_main
    asyncio.run(demo_main(get_settings()))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    schemas = devtools("schemas", "schemas")
    if args.write:
        print("\n".join(schemas.write(SCHEMAS)))
        return 0
    stale = schemas.stale(SCHEMAS)
    if stale:
        print("stale schemas (run `o2c schemas --write`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    """Lists what the SendGrid sink received (the dev stack's outbox)."""
    import httpx

    url = f"{get_settings().sendgrid_host.rstrip('/')}/_sink/messages"
    try:
        messages = httpx.get(url, timeout=5).raise_for_status().json()
    except httpx.HTTPError as exc:
        print(f"o2c: the SendGrid sink at {url} did not answer ({exc}); is `o2c dev` running?", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(messages, indent=2))
        return 0
    for record in messages[-args.last :]:
        payload = record["payload"]
        files = [Path(f).name.split("-", 2)[-1] for f in record.get("attachment_files", [])]
        to = payload["personalizations"][0]["to"][0]["email"]
        print(
            f"{record['received_at'][:19]}  {to:<32} {payload.get('subject', '')}"
            + (f"  [{', '.join(files)}]" if files else "")
        )
    return 0


def cmd_bench_worker(args: argparse.Namespace) -> int:
    run_bench_worker = devtools("bench_worker", "bench-worker").run_bench_worker
    return int(run_bench_worker(get_settings(), args.processes or get_settings().worker_processes))


def add_dev_commands(sub: Any) -> None:
    dev = sub.add_parser("dev", help="run the embedded stack in the foreground")
    dev.add_argument("--demo", action="store_true", help="place the demo orders once the stack is up")
    dev.set_defaults(run=cmd_dev)
    bench = sub.add_parser("bench", help="benchmarks that print figures (README: Performance)")
    bench.add_argument("what", choices=["orders", "idle", "match", "book", "console"])
    bench.add_argument("--orders", type=int, help="orders to run (orders: 200; idle: 10000)")
    bench.add_argument("--processes", type=int, default=1, help="worker processes")
    bench.add_argument("--concurrency", type=int, default=50, help="orders in flight at once")
    bench.add_argument(
        "--rounds", type=int, default=4, help="orders: o2c and bare workflows take turns in this many rounds"
    )
    bench.add_argument(
        "--sandbox",
        choices=["on", "off"],
        default="off",
        help="workflow sandbox in the worker (off: as docker-compose runs production; README: Performance)",
    )
    bench.add_argument("--lines", type=int, default=1_000_000, help="match: statement lines")
    bench.add_argument(
        "--invoices", type=int, help="match: open invoices (default: as many as lines); book: invoices (1,000,000)"
    )
    bench.add_argument("--seed", type=int, default=7, help="match, book: the generator's seed")
    bench.add_argument("--database", help="book, console: the book's PostgreSQL database (postgresql://…)")
    bench.add_argument("--customers", type=int, default=100_000, help="book: customers")
    bench.add_argument("--open", type=int, default=200_000, help="book: invoices left open")
    bench.add_argument("--years", type=int, default=2, help="book: years of invoices, up to today")
    bench.add_argument("--force", action="store_true", help="book: empty a database that has orders first")
    bench.add_argument("--repeat", type=int, default=20, help="console: requests per page")
    bench.add_argument(
        "--explain", action="store_true", help="console: the three slowest statements of each page, with their plans"
    )
    bench.set_defaults(run=cmd_bench)
    bench_worker = sub.add_parser("bench-worker", help="the worker `o2c bench` starts: production's plus its floor")
    bench_worker.add_argument("--processes", type=int, help="worker processes on this machine")
    bench_worker.set_defaults(run=cmd_bench_worker)
    sink = sub.add_parser("sink", help="run the SendGrid sink")
    sink.add_argument("--port", type=int)
    sink.set_defaults(run=cmd_sink)
    sub.add_parser("demo", help="place demo orders on a running stack").set_defaults(run=cmd_demo)
    mail = sub.add_parser("mail", help="list the emails the SendGrid sink received")
    mail.add_argument("--last", type=int, default=50)
    mail.add_argument("--json", action="store_true", help="everything, attachments' paths included")
    mail.set_defaults(run=cmd_mail)
    schemas = sub.add_parser("schemas", help="check (default) or --write the published JSON Schemas")
    schemas.add_argument("--write", action="store_true")
    schemas.set_defaults(run=cmd_schemas)
