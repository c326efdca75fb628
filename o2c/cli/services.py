"""``o2c worker``, ``webhook``, ``codec-server`` and ``migrate``: what a deployment runs."""

import argparse
import asyncio
import sys
from typing import Any

from o2c.cli.common import serve
from o2c.platform.config import PaymentLinkSecretMissing, get_settings


def payment_links_signable(command: str) -> bool:
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

    if not payment_links_signable("worker"):
        return 2
    processes = args.processes or get_settings().worker_processes
    if processes > 1:
        return run_worker_processes(processes)

    async def main() -> None:
        await run_worker(await connect(), get_settings())

    asyncio.run(main())
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    from o2c.platform.temporal import connect
    from o2c.web.webhook import create_app

    settings = get_settings()
    if not payment_links_signable("webhook"):
        return 2

    async def main() -> None:
        import uvicorn

        from activities.payments import stripe_client
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
    from o2c.platform.codec import EncryptionCodec, parse_keys
    from o2c.web.codec_server import codec_server

    settings = get_settings()
    keys, token = settings.payload_keys.get_secret_value(), settings.codec_token.get_secret_value()
    if not keys or not token:
        print("o2c codec-server: set O2C_PAYLOAD_KEYS and O2C_CODEC_TOKEN", file=sys.stderr)
        return 2
    app = codec_server(EncryptionCodec(parse_keys(keys)), token, settings.codec_ui_origins)
    serve(app, args.port or settings.codec_port)
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.config import ConsoleSecretMissing
    from o2c.platform.db import make_engine, migrate
    from o2c.platform.temporal import connect
    from o2c.web.console import create_app

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)

    async def client() -> O2CClient:
        return O2CClient(await connect())

    try:
        app = create_app(engine, settings, connect=client)
    except ConsoleSecretMissing as exc:
        print(f"o2c console: {exc}", file=sys.stderr)
        return 2
    serve(app, args.port or settings.console_port)
    return 0


def cmd_portal(args: argparse.Namespace) -> int:
    from activities.email import sendgrid_client
    from o2c.client import O2CClient
    from o2c.platform.db import make_engine, migrate
    from o2c.platform.temporal import connect
    from o2c.web.portal import PortalSecretMissing, PortalSettings, create_app

    settings, portal = get_settings(), PortalSettings()
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)

    async def client() -> O2CClient:  # a customer's dispute or promise is the order workflow's decision
        return O2CClient(await connect())

    try:
        app = create_app(engine, settings, portal, sendgrid_client(settings), connect=client)
    except PortalSecretMissing as exc:
        print(f"o2c portal: {exc}", file=sys.stderr)
        return 2
    serve(app, args.port or portal.port)
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from o2c.platform.db import make_engine, migrate

    migrate(make_engine(get_settings().resolved_database_url()))
    return 0


def add_service_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run a worker")
    worker.add_argument("--processes", type=int, help="worker processes on this machine (O2C_WORKER_PROCESSES)")
    worker.set_defaults(run=cmd_worker)
    for name, run, help_text in [
        ("webhook", cmd_webhook, "run the Stripe webhook receiver"),
        ("codec-server", cmd_codec_server, "decrypt payloads for the Temporal UI (token-protected)"),
        ("console", cmd_console, "run the finance console (web pages for credit, cash, collections)"),
        ("portal", cmd_portal, "run the customer portal (customers sign in by email, see and download invoices)"),
    ]:
        service = sub.add_parser(name, help=help_text)
        service.add_argument("--port", type=int)
        service.set_defaults(run=run)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=cmd_migrate)
