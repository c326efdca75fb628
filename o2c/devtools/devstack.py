"""``o2c dev``: the embedded stack in the foreground.

Starts, in order and each only once the previous one answers: the Temporal dev server with its UI (state
in a SQLite file under the state folder, our search attributes registered), localstripe, the SendGrid
sink, the Stripe webhook receiver (registered with localstripe), then the worker, the finance console and
the customer portal side by side, every one listening on 127.0.0.1 only. A child that dies is started
again (``o2c.devtools.supervisor``: pauses from 1 s doubling to 30 s); Ctrl-C (or SIGTERM) stops every
child it started. Starting again reuses the state folder, so workflows in flight carry on.
"""

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import structlog
from pydantic import SecretStr

from models.search_attributes import CLI_TYPES
from o2c.devtools.supervisor import Child, RestartPolicy, Supervisor, state_secret
from o2c.platform.codec import new_key_spec
from o2c.platform.config import Settings
from o2c.platform.temporal import connect
from o2c.web.portal.settings import SECRET_FILE, PortalSettings

log = structlog.get_logger("o2c.dev")
READY_TIMEOUT = 90.0


# localstripe's own start() binds every interface ("::"); the dev stack keeps it on loopback, like the rest.
LOCALSTRIPE_ON_LOOPBACK = (
    "import sys; from aiohttp import web; from localstripe.server import app; "
    "from o2c.devtools.fakestripe import install; install(); "
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)"
)


class StackError(RuntimeError):
    """A one-line reason the stack cannot start."""


def tool(name: str) -> str:
    """A console script installed beside this Python (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def check_port_free(port: int, what: str, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(f"port {port} ({what}) is busy: stop what uses it or set {setting} to a free port")


async def wait_until(what: str, ready: Callable[[], Awaitable[bool]], child: Child) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise StackError(
                f"{what} exited with code {child.process.returncode}; see {child.name}.log in the state folder"
            )
        try:
            if await ready():
                log.info("ready", component=what)
                return
        except Exception:  # noqa: S110  (not up yet: any failure to answer means try again)
            pass
        await asyncio.sleep(0.3)
    raise StackError(f"{what} did not become ready within {READY_TIMEOUT:.0f} s")


class DevStack:
    def __init__(
        self, settings: Settings, restart_policy: RestartPolicy | None = None, worker_command: str = "worker"
    ) -> None:
        self.worker_command = worker_command  # the bench runs its own worker (``o2c.devtools.bench_worker``)
        self.state = settings.state_dir.resolve()
        self.state.mkdir(parents=True, exist_ok=True)
        # Payloads are encrypted in the dev stack too; its key and the codec token are made on first start
        # unless the environment gives them (production always gives them: README, threat model).
        keys = settings.payload_keys.get_secret_value() or state_secret(self.state / "payload-keys", new_key_spec)
        token = settings.codec_token.get_secret_value() or state_secret(
            self.state / "codec-token", lambda: secrets.token_urlsafe(24)
        )
        # The pay-link secret signs the links in invoice emails: a well-known default would let anyone forge
        # one, so each state folder gets its own unless the environment gives it.
        given = "payment_link_secret" in settings.model_fields_set
        paylink = (given and settings.payment_link_secret.get_secret_value()) or state_secret(
            self.state / "payment-link-secret", lambda: secrets.token_urlsafe(32)
        )
        # The console's secret signs its sessions and CSRF tokens: likewise one per state folder.
        given = "console_secret" in settings.model_fields_set
        console = (given and settings.console_secret.get_secret_value()) or state_secret(
            self.state / "console-secret", lambda: secrets.token_urlsafe(32)
        )
        # The portal's secret signs customers' sessions and CSRF tokens: likewise one per state folder.
        portal = PortalSettings()
        self.portal = portal.model_copy(
            update={
                "secret": SecretStr(
                    portal.secret.get_secret_value()
                    or state_secret(self.state / SECRET_FILE, lambda: secrets.token_urlsafe(32))
                )
            }
        )
        self.settings = settings.model_copy(
            update={
                "payload_keys": SecretStr(keys),
                "codec_token": SecretStr(token),
                "payment_link_secret": SecretStr(paylink),
                "console_secret": SecretStr(console),
            }
        )
        self.supervisor = Supervisor(self.state, self.env, restart_policy)

    @property
    def children(self) -> list[Child]:
        return self.supervisor.children

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.console_port}"

    @property
    def portal_url(self) -> str:
        """Where sign-in links point: O2C_PORTAL_PUBLIC_URL when given, else the port the portal listens on."""
        if "public_url" in self.portal.model_fields_set:
            return self.portal.public_url.rstrip("/")
        return f"http://127.0.0.1:{self.portal.port}"

    @property
    def codec_endpoint(self) -> str:
        token = self.settings.codec_token.get_secret_value()
        return f"http://127.0.0.1:{self.settings.codec_port}/t/{token}"

    def env(self) -> dict[str, str]:
        s = self.settings
        # Both defaults name the default ports; on other ports the UI's calls to the codec server and the
        # pay links in emails follow the ports the stack really uses, unless the environment says otherwise.
        ui_origins = [f"http://localhost:{s.temporal_ui_port}", f"http://127.0.0.1:{s.temporal_ui_port}"]
        if "codec_ui_origins" in s.model_fields_set:
            ui_origins = s.codec_ui_origins
        public_url = s.public_url if "public_url" in s.model_fields_set else f"http://127.0.0.1:{s.webhook_port}"
        return os.environ | {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{s.temporal_port}",
            "O2C_STATE_DIR": str(self.state),
            "O2C_DATABASE_URL": s.resolved_database_url(),
            "O2C_STRIPE_API_BASE": f"http://127.0.0.1:{s.localstripe_port}",
            "O2C_SENDGRID_HOST": f"http://127.0.0.1:{s.sendgrid_sink_port}",
            "O2C_PAYLOAD_KEYS": s.payload_keys.get_secret_value(),
            "O2C_CODEC_TOKEN": s.codec_token.get_secret_value(),
            "O2C_PAYMENT_LINK_SECRET": s.payment_link_secret.get_secret_value(),
            "O2C_CONSOLE_SECRET": s.console_secret.get_secret_value(),
            "O2C_PORTAL_SECRET": self.portal.secret.get_secret_value(),
            "O2C_PORTAL_PORT": str(self.portal.port),
            "O2C_PORTAL_PUBLIC_URL": self.portal_url,
            "O2C_TEMPORAL_UI_URL": s.resolved_temporal_ui_url(),  # the console links each order to the UI
            "O2C_BIND_HOST": "127.0.0.1",  # even when the shell exports another (as deployments do)
            "O2C_CODEC_UI_ORIGINS": json.dumps(ui_origins),
            "O2C_PUBLIC_URL": public_url,
            "O2C_WORKER_PROCESSES": str(s.worker_processes),
            "O2C_WORKFLOW_SANDBOX": str(s.workflow_sandbox).lower(),
            "O2C_LOG_LEVEL": s.log_level,
        }

    def spawn(self, name: str, argv: list[str]) -> Child:
        return self.supervisor.spawn(name, argv)

    def check_ports(self) -> None:
        s = self.settings
        for port, what, setting in [
            (s.temporal_port, "Temporal frontend", "O2C_TEMPORAL_PORT"),
            (s.temporal_ui_port, "Temporal UI", "O2C_TEMPORAL_UI_PORT"),
            (s.localstripe_port, "localstripe", "O2C_LOCALSTRIPE_PORT"),
            (s.sendgrid_sink_port, "SendGrid sink", "O2C_SENDGRID_SINK_PORT"),
            (s.webhook_port, "Stripe webhook receiver", "O2C_WEBHOOK_PORT"),
            (s.codec_port, "codec server", "O2C_CODEC_PORT"),
            (s.console_port, "finance console", "O2C_CONSOLE_PORT"),
            (self.portal.port, "customer portal", "O2C_PORTAL_PORT"),
        ]:
            check_port_free(port, what, setting)

    async def start(self) -> None:
        s = self.settings
        self.state.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        o2c = tool("o2c")
        temporal = self.spawn(
            "temporal",
            [
                tool("temporal"), "server", "start-dev",
                "--ip", "127.0.0.1",
                "--port", str(s.temporal_port),
                "--ui-port", str(s.temporal_ui_port),
                "--db-filename", str(self.state / "temporal.db"),
                "--sqlite-pragma", "journal_mode=wal",
                "--sqlite-pragma", "synchronous=normal",
                "--log-level", "warn",
                "--ui-disable-news-fetch",
                "--ui-codec-endpoint", self.codec_endpoint,
                "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
                *[arg for name, kind in CLI_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")],
            ],
        )  # fmt: skip

        codec = self.spawn("codec-server", [o2c, "codec-server", "--port", str(s.codec_port)])
        await wait_until("codec server", lambda: _codec_ok(s.codec_port), codec)

        async def temporal_ready() -> bool:
            client = await connect(f"127.0.0.1:{s.temporal_port}", s)
            await client.count_workflows()
            return True

        await wait_until("Temporal dev server", temporal_ready, temporal)
        localstripe_argv = [sys.executable, "-c", LOCALSTRIPE_ON_LOOPBACK, str(s.localstripe_port)]
        localstripe = self.spawn("localstripe", localstripe_argv)
        await wait_until("localstripe", self.localstripe_ready, localstripe)
        sink = self.spawn("sendgrid-sink", [o2c, "sink", "--port", str(s.sendgrid_sink_port)])
        await wait_until(
            "SendGrid sink", lambda: _http_ok(f"http://127.0.0.1:{s.sendgrid_sink_port}/_sink/health"), sink
        )
        webhook = self.spawn("webhook", [o2c, "webhook", "--port", str(s.webhook_port)])
        await wait_until("webhook receiver", lambda: _http_ok(f"http://127.0.0.1:{s.webhook_port}/health"), webhook)
        await self.register_webhook()
        worker = self.spawn("worker", [o2c, self.worker_command])
        # The console and the portal need Temporal and the database, not the worker: all start at once.
        console = self.spawn("console", [o2c, "console", "--port", str(s.console_port)])
        portal = self.spawn("portal", [o2c, "portal", "--port", str(self.portal.port)])

        async def worker_ready() -> bool:
            return "worker started" in (self.state / "worker.log").read_text(errors="replace")

        await wait_until("worker", worker_ready, worker)
        await wait_until("finance console", lambda: _http_ok(f"{self.console_url}/login", exactly=200), console)
        portal_up = f"http://127.0.0.1:{self.portal.port}/portal/sign-in"
        await wait_until("customer portal", lambda: _http_ok(portal_up, exactly=200), portal)

    async def localstripe_ready(self) -> bool:
        s = self.settings
        return await _http_ok(
            f"http://127.0.0.1:{s.localstripe_port}/v1/customers", auth=s.stripe_api_key.get_secret_value()
        )

    async def restarted(self, child: Child) -> None:
        """localstripe starts empty: the webhook endpoint is registered again once it answers."""
        if child.name != "localstripe":
            return
        try:
            await wait_until("localstripe", self.localstripe_ready, child)
            await self.register_webhook()
        except (StackError, httpx.HTTPError) as exc:
            log.warning("webhook endpoint not registered again", reason=str(exc))

    async def register_webhook(self) -> None:
        from o2c.web.webhook import HANDLED_EVENTS

        s = self.settings
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://127.0.0.1:{s.localstripe_port}/_config/webhooks/o2c",
                json={
                    "url": f"http://127.0.0.1:{s.webhook_port}/stripe/webhook",
                    "secret": s.stripe_webhook_secret.get_secret_value(),
                    "events": sorted(HANDLED_EVENTS),
                },
                auth=(s.stripe_api_key.get_secret_value(), ""),
            )
            response.raise_for_status()

    def stop(self) -> None:
        self.supervisor.stop()

    async def supervise(self, stopping: asyncio.Event) -> None:
        """Restarts children that die until ``stopping`` is set."""
        follow_ups: set[asyncio.Task[None]] = set()
        while not stopping.is_set():
            for child in self.supervisor.tend():
                task = asyncio.create_task(self.restarted(child))
                follow_ups.add(task)
                task.add_done_callback(follow_ups.discard)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=0.5)
            except TimeoutError:
                continue
        for task in follow_ups:
            task.cancel()


async def _codec_ok(port: int) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        response = await http.post(f"http://127.0.0.1:{port}/decode", content=b"{}")
        return response.status_code == 401  # up, and refusing callers without the token


async def _http_ok(url: str, auth: str | None = None, exactly: int | None = None) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        response = await http.get(url, auth=(auth, "") if auth else None)
        return response.status_code == exactly if exactly else response.status_code < 500


async def _bring_up(stack: DevStack, with_demo: bool) -> None:
    from o2c.devtools.demo_console import DemoUsers, add_demo_users, console_lines
    from o2c.devtools.demo_portal import DemoSignIn, demo_sign_in, portal_lines

    s = stack.settings
    await stack.start()
    ui = f"http://localhost:{s.temporal_ui_port}"
    print(f"\no2c is running. Temporal UI: {ui}/namespaces/default/workflows", flush=True)
    users: DemoUsers | None = None
    sign_in: DemoSignIn | None = None
    if with_demo:
        from o2c.devtools.demo import run_demo
        from o2c.platform.db import make_engine

        engine = make_engine(s.resolved_database_url())
        try:
            users = await asyncio.to_thread(add_demo_users, s, engine)
        finally:
            engine.dispose()
        client = await connect(f"127.0.0.1:{s.temporal_port}", s)
        await run_demo(client, s)
        engine = make_engine(s.resolved_database_url())
        try:
            sign_in = await asyncio.to_thread(demo_sign_in, engine, stack.portal_url)
        finally:
            engine.dispose()
        print(
            f"\nDemo orders placed. In the Temporal UI ({ui}) open Workflows and filter with\n"
            '  OrderStatus="PAID"   or   OrderStatus="DISPUTED"   or   CustomerId="ACME"\n'
            "Click a workflow: the summary says what the order is, 'Current details' what it waits for,\n"
            "and Queries → status shows totals, invoices and the timeline.",
            flush=True,
        )
    print(console_lines(stack.console_url, users), flush=True)
    print(portal_lines(stack.portal_url, sign_in), flush=True)
    print(
        f"\nEmails: http://127.0.0.1:{s.sendgrid_sink_port}/_sink/messages · "
        f"state and logs: {stack.state} · Ctrl-C stops everything.",
        flush=True,
    )


async def run_dev(settings: Settings, with_demo: bool) -> int:
    stack = DevStack(settings)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        # A Ctrl-C while the stack comes up (or the demo runs) stops it there, not once everything is up.
        bring_up = asyncio.create_task(_bring_up(stack, with_demo))
        stop_asked = asyncio.create_task(stopping.wait())
        await asyncio.wait({bring_up, stop_asked}, return_when=asyncio.FIRST_COMPLETED)
        stop_asked.cancel()
        if not bring_up.done():
            bring_up.cancel()
            await asyncio.wait({bring_up})
            return 0
        bring_up.result()
        await stack.supervise(stopping)
        return 0
    except StackError as exc:
        print(f"o2c dev: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        stack.stop()
