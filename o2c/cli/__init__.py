"""The ``o2c`` command: the dev stack, the worker and the services, and orders and finance by hand."""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from o2c.cli.cash import add_cash_commands
from o2c.platform.config import PaymentLinkSecretMissing, get_settings
from o2c.platform.log import configure_logging

SCHEMAS = Path("schemas")


def _serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=get_settings().bind_host, port=port, log_level="warning")


def cmd_dev(args: argparse.Namespace) -> int:
    from o2c.devtools.devstack import run_dev
    from o2c.platform.db import make_engine, migrate

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    engine.dispose()
    return asyncio.run(run_dev(settings, with_demo=args.demo))


def _payment_links_signable(command: str) -> bool:
    """Workers sign pay-page links and the webhook receiver checks them: without the secret they refuse to
    start, rather than fail every bank-transfer invoice (or every page) later."""
    try:
        get_settings().resolved_payment_link_secret()
    except PaymentLinkSecretMissing as exc:
        print(f"o2c {command}: {exc}", file=sys.stderr)
        return False
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    from o2c.platform.temporal import connect
    from workers.worker import run_worker, run_worker_processes

    if not _payment_links_signable("worker"):
        return 2
    processes = args.processes or get_settings().worker_processes
    if processes > 1:
        return run_worker_processes(processes)

    async def main() -> None:
        await run_worker(await connect(), get_settings())

    asyncio.run(main())
    return 0


def cmd_sink(args: argparse.Namespace) -> int:
    from o2c.devtools.sendgrid_sink import create_app

    settings = get_settings()
    _serve(create_app(settings.state_dir.resolve() / "mail"), args.port or settings.sendgrid_sink_port)
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    from o2c.platform.temporal import connect
    from o2c.web.webhook import create_app

    settings = get_settings()
    if not _payment_links_signable("webhook"):
        return 2

    async def main() -> None:
        import uvicorn

        from activities import stripe_client
        from o2c.platform.db import make_engine, migrate
        from o2c.web.paylink import PayPage

        engine = make_engine(settings.resolved_database_url())
        migrate(engine)  # event ids and kept payloads live in webhook_events
        pay_page = PayPage(engine, stripe_client(settings), settings)
        app = create_app(await connect(), settings.stripe_webhook_secret.get_secret_value(), engine, pay_page)
        config = uvicorn.Config(
            app, host=settings.bind_host, port=args.port or settings.webhook_port, log_level="warning"
        )
        await uvicorn.Server(config).serve()

    asyncio.run(main())
    return 0


def cmd_codec_server(args: argparse.Namespace) -> int:
    from o2c.platform.codec import EncryptionCodec, codec_server, parse_keys

    settings = get_settings()
    keys, token = settings.payload_keys.get_secret_value(), settings.codec_token.get_secret_value()
    if not keys or not token:
        print("o2c codec-server: set O2C_PAYLOAD_KEYS and O2C_CODEC_TOKEN", file=sys.stderr)
        return 2
    app = codec_server(EncryptionCodec(parse_keys(keys)), token, settings.codec_ui_origins)
    _serve(app, args.port or settings.codec_port)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from o2c.devtools.bench import run_bench

    if args.what == "match":
        from o2c.devtools.match_bench import bench_match

        return bench_match(args.lines, args.invoices, args.seed)
    return asyncio.run(
        run_bench(args.what, args.orders, args.processes, args.concurrency, args.sandbox == "on", args.rounds)
    )


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


def cmd_demo(_: argparse.Namespace) -> int:
    from o2c.devtools.demo import demo_main

    asyncio.run(demo_main(get_settings()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dataclasses import asdict
    from datetime import UTC, date, datetime

    from o2c.platform.db import make_engine, migrate
    from o2c.reporting.reports import build_report, render, write_chart

    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    report = build_report(engine, date.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC).date(), args.days)
    if args.json:
        print(json.dumps(asdict(report), indent=2, default=str))
    else:
        print(render(report))
    if args.chart != "none":
        write_chart(report, Path(args.chart))
        print(f"chart: {args.chart}", file=sys.stderr)
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from o2c.platform.db import make_engine, migrate

    migrate(make_engine(get_settings().resolved_database_url()))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from o2c.devtools import schemas

    if args.write:
        print("\n".join(schemas.write(SCHEMAS)))
        return 0
    stale = schemas.stale(SCHEMAS)
    if stale:
        print("stale schemas (run `o2c schemas --write`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def cmd_order(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient, describe
    from o2c.platform.temporal import connect

    order = json.loads(Path(args.target).read_text()) if args.action == "start" else None

    async def main() -> None:
        o2c = O2CClient(await connect())
        if order is not None:
            handle = await o2c.start_order(order)
            print(f"started {handle.id}")
        else:
            view = await o2c.status(args.target)
            print(view.model_dump_json(indent=2) if args.json else describe(view))

    return _run_client(main())


def cmd_finance(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    payload: dict[str, Any] = json.loads(args.json) if args.json else {}
    payload.setdefault("by", args.by)
    if args.reason:
        payload.setdefault("reason", args.reason)

    async def main() -> None:
        o2c = O2CClient(await connect())
        method = getattr(o2c, args.decision.replace("-", "_"))
        result = await method(args.order_id, payload)
        print(f"{args.decision}: {result.message} (order now {result.status})")

    return _run_client(main())


CUSTOMER_FIELDS = (
    "name",
    "email",
    "currency",
    "credit_limit",
    "risk_class",
    "billing_name",
    "billing_email",
    "billing_address",
    "vat_id",
    "dunning_segment",
)


def customer_change(args: argparse.Namespace) -> dict[str, Any]:
    """The change a ``customer set|block|unblock`` command line asks for, as ``ChangeCustomer`` data."""
    change: dict[str, Any] = {"customer_id": args.customer_id, "by": args.by, "reason": args.reason}
    if args.change_id:
        change["change_id"] = args.change_id
    if args.action in ("block", "unblock"):
        change["blocked"] = args.action == "block"
        return change
    change |= {name: getattr(args, name) for name in CUSTOMER_FIELDS if getattr(args, name) is not None}
    if args.net_days is not None or args.end_of_month or args.early_discount:
        terms: dict[str, Any] = {
            "net_days": 30 if args.net_days is None else args.net_days,
            "end_of_month": args.end_of_month,
        }
        if args.early_discount:
            percent, _, days = args.early_discount.partition("/")
            terms |= {"discount_percent": percent, "discount_days": days or "0"}
        change["payment_terms"] = terms
    return change


def cmd_customer(args: argparse.Namespace) -> int:
    if args.action == "show":
        from o2c.platform.db import make_engine
        from o2c.platform.policies import load_credit_rules
        from o2c.reporting.customer_report import customer_report

        settings = get_settings()
        report = customer_report(
            make_engine(settings.resolved_database_url()), args.customer_id, load_credit_rules(settings)
        )
        if report is None:
            print(f"o2c: no customer {args.customer_id} in the master", file=sys.stderr)
            return 1
        print(json.dumps(report, indent=2))
        return 0
    if not args.by or not args.reason:
        print("o2c: a customer change needs --by (who) and --reason (why): both go to the audit trail", file=sys.stderr)
        return 2
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        result = await O2CClient(await connect()).change_customer(customer_change(args))
        what = "created" if result.created else "changed"
        print(f"customer {result.customer_id} {what} (change {result.change_id})")
        for item in result.changes:
            print(f"  {item.field}: {item.old if item.old is not None else '(none)'} -> {item.new}")
        if not result.changes:
            print("  nothing differed from the master")
        if result.accounts_receivable_notified:
            print("  accounts receivable notified of the billing change")

    return _run_client(main())


def cmd_resend(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        request = {"number": args.number, "by": args.by, "to": args.to, "request_id": args.request_id}
        sent = await O2CClient(await connect()).resend_document({k: v for k, v in request.items() if v})
        print(f"{args.number}: {'already sent for this request' if sent.already_sent else 'sent'} ({sent.message_id})")

    return _run_client(main())


def cmd_refund(args: argparse.Namespace) -> int:
    from models.money import from_minor
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        request = {
            "order_id": args.order_id,
            "invoice_number": args.invoice,
            "amount": args.amount,
            "reason": args.reason,
            "by": args.by,
            "request_id": args.request_id,
        }
        result = await O2CClient(await connect()).refund_invoice({k: v for k, v in request.items() if v})
        money = lambda minor: f"{from_minor(minor, result.currency)} {result.currency}"  # noqa: E731
        print(
            f"credit note {result.credit_note_number}: {money(result.refunded_minor)} refunded to card, "
            f"{money(result.held_as_credit_minor)} held as the customer's credit"
        )
        for line in result.refunds:
            print(f"  {line.payment_id}: {money(line.amount_minor)} {line.status} {line.stripe_refund_id or ''}")

    return _run_client(main())


def cmd_statement(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        request = {"customer_id": args.customer_id, "by": args.by, "to": args.to, "request_id": args.request_id}
        sent = await O2CClient(await connect()).send_statement({k: v for k, v in request.items() if v})
        print(f"statement for {args.customer_id}: {'already sent' if sent.already_sent else 'sent'}")

    return _run_client(main())


def _run_client(work: Any) -> int:
    from o2c.client import O2CError

    try:
        asyncio.run(work)
    except O2CError as exc:
        print(f"o2c: {exc}", file=sys.stderr)
        return 1
    return 0


DECISIONS = [
    "approve-credit",
    "reject-credit",
    "open-dispute",
    "resolve-dispute",
    "promise-to-pay",
    "cancel-order",
    "write-off",
    "add-charge",
]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="o2c", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the embedded stack in the foreground")
    dev.add_argument("--demo", action="store_true", help="place the demo orders once the stack is up")
    dev.set_defaults(run=cmd_dev)
    worker = sub.add_parser("worker", help="run a worker")
    worker.add_argument("--processes", type=int, help="worker processes on this machine (O2C_WORKER_PROCESSES)")
    worker.set_defaults(run=cmd_worker)
    bench = sub.add_parser("bench", help="benchmarks that print figures (README: Performance)")
    bench.add_argument("what", choices=["orders", "idle", "match"])
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
    bench.add_argument("--invoices", type=int, help="match: open invoices (default: as many as lines)")
    bench.add_argument("--seed", type=int, default=7, help="match: the generator's seed")
    bench.set_defaults(run=cmd_bench)
    for name, run, help_text in [
        ("sink", cmd_sink, "run the SendGrid sink"),
        ("webhook", cmd_webhook, "run the Stripe webhook receiver"),
        ("codec-server", cmd_codec_server, "decrypt payloads for the Temporal UI (token-protected)"),
    ]:
        service = sub.add_parser(name, help=help_text)
        service.add_argument("--port", type=int)
        service.set_defaults(run=run)
    sub.add_parser("demo", help="place demo orders on a running stack").set_defaults(run=cmd_demo)
    add_cash_commands(sub)
    report = sub.add_parser("report", help="receivables aging, DSO, CEI and match rates, with a chart (PNG)")
    report.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
    report.add_argument("--days", type=int, default=90, help="the period for DSO and CEI")
    report.add_argument("--chart", default="o2c-aging.png", help="where to write the chart ('none': no chart)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=cmd_report)
    mail = sub.add_parser("mail", help="list the emails the SendGrid sink received")
    mail.add_argument("--last", type=int, default=50)
    mail.add_argument("--json", action="store_true", help="everything, attachments' paths included")
    mail.set_defaults(run=cmd_mail)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=cmd_migrate)
    schemas = sub.add_parser("schemas", help="check (default) or --write the published JSON Schemas")
    schemas.add_argument("--write", action="store_true")
    schemas.set_defaults(run=cmd_schemas)
    order = sub.add_parser("order", help="start an order from a JSON file, or show an order's status")
    order.add_argument("action", choices=["start", "status"])
    order.add_argument("target", help="JSON file (start) or order id (status)")
    order.add_argument("--json", action="store_true", help="status as JSON")
    order.set_defaults(run=cmd_order)
    finance = sub.add_parser("finance", help="finance's decisions on orders, and the customer master")
    actions = finance.add_subparsers(dest="decision", required=True)
    for name in DECISIONS:
        decision = actions.add_parser(name, help=f"send {name.replace('-', '_')} (validated, answered at once)")
        decision.add_argument("order_id")
        decision.add_argument("--by", required=True, help="who decides")
        decision.add_argument("--reason")
        decision.add_argument("--json", help='further fields as JSON, e.g. \'{"dispute_id": "D1", "amount": "10"}\'')
        decision.set_defaults(run=cmd_finance)
    resend = actions.add_parser("resend-invoice", help="send an issued invoice or credit note again (archived PDF)")
    resend.add_argument("number", help="e.g. INV-2026-000123 or CN-2026-000004")
    resend.add_argument("--by", required=True, help="who asks for it")
    resend.add_argument("--to", help="another address than the customer's billing email")
    resend.add_argument("--request-id", help="makes a repeat of this request harmless")
    resend.set_defaults(run=cmd_resend)
    refund = actions.add_parser("refund", help="credit note on a paid invoice, refunded to the card it was paid with")
    refund.add_argument("order_id")
    refund.add_argument("--invoice", required=True, help="the paid invoice, e.g. INV-2026-000123")
    refund.add_argument("--amount", required=True, help="gross amount to credit, e.g. 25.00")
    refund.add_argument("--reason", required=True, help="why (printed on the credit note)")
    refund.add_argument("--by", required=True, help="who decides")
    refund.add_argument("--request-id", help="makes a repeat of this request harmless")
    refund.set_defaults(run=cmd_refund)
    statement = actions.add_parser("statement", help="email a customer the statement of their open invoices")
    statement.add_argument("customer_id")
    statement.add_argument("--by", required=True, help="who asks for it")
    statement.add_argument("--to", help="another address than the customer's billing email")
    statement.add_argument("--request-id", help="makes a repeat of this request harmless")
    statement.set_defaults(run=cmd_statement)
    customer = actions.add_parser("customer", help="show or change a customer's master data (audited)")
    customer.add_argument("action", choices=["show", "set", "block", "unblock"])
    customer.add_argument("customer_id")
    customer.add_argument("--by", help="who makes the change")
    customer.add_argument("--reason", help="why (kept in the audit trail)")
    customer.add_argument("--change-id", help="makes a resend of the same change harmless")
    for name in CUSTOMER_FIELDS:
        customer.add_argument(f"--{name.replace('_', '-')}", dest=name)
    customer.add_argument("--net-days", type=int, help="default payment terms: net N days")
    customer.add_argument("--end-of-month", action="store_true", help="default terms run to the end of the month")
    customer.add_argument("--early-discount", help='early-payment discount "PERCENT/DAYS", e.g. 2/10')
    customer.set_defaults(run=cmd_customer)
    return root


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return int(args.run(args))


def main(argv: list[str] | None = None) -> NoReturn:
    """The ``o2c`` console script: the process ends with the exit code of the command's own work.

    The Temporal SDK's Rust runtime can abort the interpreter's shutdown after the work is done
    (sdk-python #300, ``PyGILState_Release``: SIGABRT, exit code 134, in 4 of 60 ``o2c order start`` runs
    measured), which a script reads as a failure. So once the command is done and its output flushed, the
    process ends here, without the interpreter's shutdown. Nothing is lost: every unit of work has committed
    before its caller returned, and the operating system closes files and locks with the process."""
    try:
        code = run(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        code = _exit_code(exc)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach its reader
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1
