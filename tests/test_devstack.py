"""README command 1 (``o2c dev --demo``): its supervisor, its secrets, its demo users, and the whole stack end
to end, the finance console and the customer portal included."""

import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import pytest
from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from models.contract import OrderStatus
from models.naming import workflow_id
from models.tables import ApprovalLimit, ApprovalRequest, CashReceipt, Dispute, Invoice, Order
from o2c.access import Role, authenticate, check_limit
from o2c.devtools.demo_console import USERS, add_demo_users
from o2c.devtools.devstack import DevStack
from o2c.devtools.supervisor import RestartPolicy, Supervisor
from o2c.platform.config import Settings
from o2c.platform.db import make_engine
from o2c.platform.temporal import connect
from o2c.web.portal import PortalSettings
from o2c.web.portal.app import CSRF_COOKIE as PORTAL_CSRF
from tests.harness import eventually
from tests.support import Database, binary, free_port

T = TypeVar("T")
FAST = RestartPolicy(first_delay=0.2, max_delay=0.8, stable_after=2.0)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def test_restart_pauses_double_up_to_the_cap_and_start_over_after_a_stable_run() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=30, stable_after=60)
    delays: list[float] = []
    previous = None
    for _ in range(7):
        previous = policy.next_delay(previous, uptime=0.5)
        delays.append(previous)
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert policy.next_delay(30, uptime=59) == 30
    assert policy.next_delay(30, uptime=60) == 1


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[Supervisor, StringIO]]:
    console = StringIO()
    supervisor = Supervisor(tmp_path, lambda: dict(os.environ), FAST, console)
    try:
        yield supervisor, console
    finally:
        supervisor.stop(grace=5)


def _tend_until(supervisor: Supervisor, done: Callable[[], bool], timeout: float = 10.0) -> None:
    def tended() -> bool:
        supervisor.tend()
        return done()

    wait_for("the supervisor restarted the child", tended, timeout)


def test_a_child_killed_by_pid_is_started_again_and_stop_ends_it(supervisor: tuple[Supervisor, StringIO]) -> None:
    sup, console = supervisor
    child = sup.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
    first_pid = child.process.pid
    os.kill(first_pid, signal.SIGKILL)
    _tend_until(sup, lambda: child.restarts == 1)
    assert child.process.pid != first_pid and child.process.poll() is None
    assert console.getvalue() == (
        f"o2c dev: sleeper (pid {first_pid}) killed by SIGKILL; restarting in 0.2 s (log: {sup.logs}/sleeper.log)\n"
    )
    second = psutil.Process(child.process.pid)
    sup.stop(grace=5)
    assert not second.is_running() and sup.children == []


def test_a_child_that_keeps_dying_waits_longer_each_time_up_to_the_cap(
    supervisor: tuple[Supervisor, StringIO],
) -> None:
    sup, console = supervisor
    child = sup.spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    _tend_until(sup, lambda: child.restarts == 4, timeout=20)
    lines = console.getvalue().splitlines()
    assert [re.search(r"restarting in (\S+) s", line)[1] for line in lines[:4]] == ["0.2", "0.4", "0.8", "0.8"]  # type: ignore[index]
    assert all("crasher" in line and "exited with code 3" in line for line in lines)


@pytest.mark.parametrize(
    ("variable", "file", "resolved"),
    [
        ("O2C_PAYMENT_LINK_SECRET", "payment-link-secret", Settings.resolved_payment_link_secret),
        ("O2C_CONSOLE_SECRET", "console-secret", Settings.resolved_console_secret),
        ("O2C_PORTAL_SECRET", "portal-secret", lambda s: PortalSettings(_env_file=None).resolved_secret(s.state_dir)),
    ],
)
def test_the_dev_stack_makes_a_secret_per_state_folder(
    variable: str, file: str, resolved: Callable[[Settings], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pay-link secret (links in emails), the console's and the portal's (sessions, CSRF tokens)."""
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("O2C_BIND_HOST", "0.0.0.0")
    first = DevStack(Settings(state_dir=tmp_path / "a", _env_file=None))  # type: ignore[call-arg]
    made = tmp_path / "a" / file
    secret = made.read_text()
    assert len(secret) >= 43 and stat.S_IMODE(made.stat().st_mode) == 0o600
    assert first.env()[variable] == secret
    assert first.env()["O2C_BIND_HOST"] == "127.0.0.1"
    # What a command beside the stack reads when the environment gives none: the same secret.
    assert resolved(Settings(state_dir=tmp_path / "a", _env_file=None)) == secret  # type: ignore[call-arg]
    again = DevStack(Settings(state_dir=tmp_path / "a", _env_file=None))  # type: ignore[call-arg]
    assert again.env()[variable] == secret  # links already mailed keep working, sessions stay signed in
    other = DevStack(Settings(state_dir=tmp_path / "b", _env_file=None))  # type: ignore[call-arg]
    assert other.env()[variable] != secret

    given = "a-deployment-chose-this-secret"
    monkeypatch.setenv(variable, given)
    chosen = DevStack(Settings(state_dir=tmp_path / "c", _env_file=None))  # type: ignore[call-arg]
    assert chosen.env()[variable] == given
    assert not (tmp_path / "c" / file).exists()


def test_demo_users_one_per_role_with_a_password_per_state_folder_made_once(
    tmp_path: Path, sqlite_db: Database
) -> None:
    settings = Settings(state_dir=tmp_path / "state", _env_file=None)  # type: ignore[call-arg]
    users = add_demo_users(settings, sqlite_db.engine)
    assert users.made == [name for name, _, _ in USERS] and users.existed == []
    assert len(users.password) >= 12 and stat.S_IMODE(users.password_file.stat().st_mode) == 0o600
    for username, role, _ in USERS:
        signed_in = authenticate(sqlite_db.engine, username, users.password)
        assert signed_in is not None and signed_in.roles == {role}
    # The limits the brief names: a collector writes off 50.00 alone, an AR clerk 100.00 and refunds 100.00.
    assert check_limit(sqlite_db.engine, frozenset({Role.COLLECTOR}), "write_off", "EUR", 5000).allowed
    assert not check_limit(sqlite_db.engine, frozenset({Role.COLLECTOR}), "write_off", "USD", 5001).allowed
    assert check_limit(sqlite_db.engine, frozenset({Role.AR_CLERK}), "refund", "USD", 10000).allowed
    assert not check_limit(sqlite_db.engine, frozenset({Role.AR_CLERK}), "write_off", "EUR", 10001).allowed
    assert not check_limit(sqlite_db.engine, frozenset({Role.COLLECTOR}), "refund", "USD", 1).allowed

    # Started again: nothing changes, and a limit someone changed by hand stays as they set it.
    with Session(sqlite_db.engine) as session:
        row = session.exec(select(ApprovalLimit).where(ApprovalLimit.role == "collector")).first()
        assert row is not None
        row.max_minor = 7000
        session.add(row)
        session.commit()
        currency = row.currency
    again = add_demo_users(settings, sqlite_db.engine)
    assert again.made == [] and again.existed == users.made and not again.new_password
    assert again.password == users.password
    assert check_limit(sqlite_db.engine, frozenset({Role.COLLECTOR}), "write_off", currency, 7000).allowed


# ---- README command 1, end to end -------------------------------------------------------------------------

PORT_SETTINGS = (
    "O2C_TEMPORAL_PORT",
    "O2C_TEMPORAL_UI_PORT",
    "O2C_LOCALSTRIPE_PORT",
    "O2C_SENDGRID_SINK_PORT",
    "O2C_WEBHOOK_PORT",
    "O2C_CODEC_PORT",
    "O2C_CONSOLE_PORT",
    "O2C_PORTAL_PORT",
)
# Where `o2c dev --demo` leaves each demo order (o2c/demo.py drives each through a different life).
DEMO_STATES = {
    "paid": OrderStatus.PAID,  # paid by bank transfer, found on the bank statement
    "card": OrderStatus.PAID,  # charged to the card on file
    "partial": OrderStatus.INVOICED,
    "hold": OrderStatus.INVOICED,  # released from credit hold by a controller
    "dispute": OrderStatus.DISPUTED,
    "cancel": OrderStatus.CANCELLED,
    "waiting": OrderStatus.AWAITING_SHIPMENT,
    "held": OrderStatus.CREDIT_HOLD,  # left on hold for the console's credit holds queue
    "overdue": OrderStatus.OVERDUE,  # the collections worklist's customer
}


async def _demo_orders_reach_their_states(state: Path, temporal_port: int, run: str) -> None:
    """Read through the ``status`` query, decrypted with the key the stack made in its state folder."""
    settings = Settings(state_dir=state, _env_file=None)  # type: ignore[call-arg]
    client = await connect(f"127.0.0.1:{temporal_port}", settings)
    for name, expected in DEMO_STATES.items():
        handle = client.get_workflow_handle(workflow_id(f"DEMO-{run}-{name}"))
        await eventually(handle, lambda view, expected=expected: view.status == expected, f"{name}: {expected}")


def _pay_links_open_on_the_stacks_webhook_port(sink_port: int, webhook_port: int) -> None:
    """The worker signs the links in invoice emails and the webhook receiver checks them: both children got
    the state folder's pay-link secret, and the links name the port the receiver really listens on."""
    messages = httpx.get(f"http://127.0.0.1:{sink_port}/_sink/messages", timeout=10).json()
    texts = [c["value"] for m in messages for c in m["payload"]["content"] if c["type"] == "text/plain"]
    links = re.findall(r"http://\S+/pay/\S+", "\n".join(texts))
    assert links, "no invoice email with a pay link"
    link = links[0]
    assert link.startswith(f"http://127.0.0.1:{webhook_port}/pay/")
    assert httpx.get(link, timeout=10).status_code == 200
    forged = re.sub(r"t=\w+", "t=" + "0" * 32, link)
    assert httpx.get(forged, timeout=10).status_code != 200


def _the_ui_may_call_the_codec_server(codec_port: int, ui_port: int) -> None:
    """CORS: the codec server lets the UI's own origin (on the port the stack gave the UI) call it."""
    origin = f"http://localhost:{ui_port}"
    preflight = httpx.options(
        f"http://127.0.0.1:{codec_port}/decode",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin


# The console's queues (their keys on the home page) the demo leaves work in.
DEMO_QUEUES = {"credit-holds", "cash", "disputes", "collections", "approvals"}


def _demo_work_waits_in_the_database(state: Path) -> None:
    """What each console queue lists, read where its page reads it: a credit hold, an unapplied receipt with
    the engine's suggestion, an open dispute, an overdue invoice and a write-off waiting for a manager."""
    engine = make_engine(Settings(state_dir=state, _env_file=None).resolved_database_url())  # type: ignore[call-arg]
    today = datetime.now(UTC).date()
    try:
        with Session(engine) as session:

            def count(*where: ColumnElement[bool]) -> int:
                return int(session.exec(select(func.count()).where(*where)).one())

            assert count(col(Order.status) == "CREDIT_HOLD") == 1
            assert count(col(CashReceipt.status) == "unapplied", col(CashReceipt.suggestion) != "") == 1
            assert count(col(CashReceipt.status) == "unapplied") == 2
            assert count(col(Dispute.status) == "open") == 1
            assert count(col(Invoice.open_minor) > 0, col(Invoice.due_date) < today) == 1
            assert (
                count(col(ApprovalRequest.status) == "pending", col(ApprovalRequest.requested_by) == "collector") == 1
            )
    finally:
        engine.dispose()


def _a_demo_user_signs_in_and_sees_work_in_every_queue(stdout: str) -> None:
    """The console on the URL ``o2c dev`` printed, signed in as a printed user with the printed password, as a
    browser would (the sign-in form's CSRF token from its cookie); the home page counts work in each queue."""
    url = re.search(r"Finance console: (\S+)", stdout)
    password = re.search(r"one password \(development only\): (\S+)", stdout)
    assert url and password, stdout
    for username, _, _ in USERS:
        assert re.search(rf"^    {username} ", stdout, re.M), f"{username} not printed"
    with httpx.Client(base_url=url[1], timeout=10) as http:
        assert http.get("/login").status_code == 200
        token = http.cookies["csrftoken"]
        refused = http.post("/login", data={"username": "manager", "password": "wrong", "csrftoken": token})
        assert refused.status_code == 401
        signed_in = http.post(
            "/login", data={"username": "manager", "password": password[1], "csrftoken": token, "next": "/"}
        )
        assert signed_in.status_code == 303, signed_in.text
        home = http.get("/")
        assert home.status_code == 200 and "Work queues" in home.text
        queues = set(re.findall(r'id="queue-([^"]+)"', home.text))
        assert queues >= DEMO_QUEUES, f"{DEMO_QUEUES - queues} not on the home page"
        counts = dict(re.findall(r'aria-label="([^"]+): (\d+) waiting"', home.text))
        assert counts, "no work queue on the home page"
        assert {title: n for title, n in counts.items() if n == "0"} == {}, counts


def _the_printed_portal_link_signs_in_once_and_shows_the_demo_customers_invoices(stdout: str, state: Path) -> None:
    """The portal link ``o2c dev --demo`` printed, opened as a browser would: the page asks for a click, the
    click signs in as the demo customer, whose open invoices (read from the database) are listed; the same
    link a second time signs nobody in."""
    portal = re.search(r"Customer portal: (\S+)/portal", stdout)
    link = re.search(r"^    (http://\S+/portal/link/(\S+))$", stdout, re.M)
    assert portal and link, stdout
    assert "works once, for 30 minutes" in stdout
    engine = make_engine(Settings(state_dir=state, _env_file=None).resolved_database_url())  # type: ignore[call-arg]
    try:
        with Session(engine) as session:
            query = select(Invoice.number).where(Invoice.customer_id == "INITECH", col(Invoice.open_minor) > 0)
            numbers = session.exec(query).all()
    finally:
        engine.dispose()
    assert numbers, "the demo customer has no open invoice"
    with httpx.Client(base_url=portal[1], timeout=10) as http:
        assert http.get(link[1]).status_code == 200
        data = {"token": link[2], "csrftoken": http.cookies[PORTAL_CSRF]}
        signed_in = http.post("/portal/sign-in/link", data=data)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portal", signed_in.text
        home = http.get("/portal")
        assert home.status_code == 200 and "Initech" in home.text
        assert all(number in home.text for number in numbers), (numbers, home.text[-3000:])
        assert http.post("/portal/sign-in/link", data=data).status_code == 400  # used up


def _is_worker(process: psutil.Process) -> bool:
    try:
        return process.cmdline()[-1:] == ["worker"]
    except psutil.Error:  # the killed one, until the supervisor reaps it
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _listen_addresses(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    return {
        (conn.laddr.ip, conn.laddr.port)
        for process in processes
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_readme_command_1_comes_up_runs_the_demo_restarts_a_dead_child_and_stops_clean(tmp_path: Path) -> None:
    """Slow on purpose (30-50 s here): the whole stack as a developer starts it, the only test of README
    command 1. Every port is a free one and the state folder is new, so it runs beside anything else."""
    ports, state, dev = _start_dev(tmp_path, "--demo")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    seen: dict[int, psutil.Process] = {}

    def children() -> list[psutil.Process]:
        found = psutil.Process(dev.pid).children(recursive=True)
        seen.update((p.pid, p) for p in found)
        return found

    try:

        def up() -> bool:
            assert dev.poll() is None, f"o2c dev exited with {dev.returncode}: {err.read_text()[-2000:]}"
            return "Ctrl-C stops everything" in out.read_text()

        wait_for("o2c dev --demo came up and placed its orders", up, timeout=240)
        run = re.search(r"DEMO-(\d+)-paid", out.read_text())
        assert run, out.read_text()

        # Bound to loopback: everything any child listens on, and every port setting taken.
        listening = _listen_addresses(children())
        assert {ip for ip, _ in listening} <= {"127.0.0.1", "::1"}, listening
        assert set(ports.values()) <= {port for _, port in listening}

        asyncio.run(_demo_orders_reach_their_states(state, ports["O2C_TEMPORAL_PORT"], run[1]))
        _pay_links_open_on_the_stacks_webhook_port(ports["O2C_SENDGRID_SINK_PORT"], ports["O2C_WEBHOOK_PORT"])
        _the_ui_may_call_the_codec_server(ports["O2C_CODEC_PORT"], ports["O2C_TEMPORAL_UI_PORT"])
        _demo_work_waits_in_the_database(state)
        _a_demo_user_signs_in_and_sees_work_in_every_queue(out.read_text())
        _the_printed_portal_link_signs_in_once_and_shows_the_demo_customers_invoices(out.read_text(), state)

        # A child that dies comes back, and the console says so.
        worker = next(p for p in children() if _is_worker(p))
        worker.kill()
        restarted = wait_for(
            "a new worker",
            lambda: next((p for p in children() if _is_worker(p) and p.pid != worker.pid), None),
        )
        assert f"worker (pid {worker.pid}) killed by SIGKILL; restarting in 1 s" in err.read_text()
        wait_for(
            "the new worker polls",
            lambda: (state / "worker.log").read_text(errors="replace").count("worker started") == 2,
        )
        assert restarted.is_running()
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(timeout=60)

    assert code == 0, err.read_text()[-2000:]
    assert len(seen) >= 9  # Temporal, codec server, localstripe, sink, webhook, worker (twice), console, portal
    _nothing_left(seen.values(), ports.values())


@pytest.mark.integration
def test_ctrl_c_while_the_stack_comes_up_stops_it_there(tmp_path: Path) -> None:
    ports, state, dev = _start_dev(tmp_path)
    try:
        wait_for(
            "the Temporal dev server came up",
            lambda: '"Temporal dev server"' in (tmp_path / "stderr").read_text(),
            timeout=60,
        )
        started = psutil.Process(dev.pid).children(recursive=True)
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(timeout=30)
    assert code == 0
    assert not (state / "worker.log").exists()  # stopped where it was, not after bringing the rest up
    assert len(started) >= 2  # Temporal and the codec server
    _nothing_left(started, ports.values())


def _start_dev(tmp_path: Path, *flags: str) -> tuple[dict[str, int], Path, subprocess.Popen[bytes]]:
    """``o2c dev`` on free ports with a new state folder, nothing taken from the caller's environment."""
    ports = {setting: free_port() for setting in PORT_SETTINGS}
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("O2C_", "TEMPORAL_"))}
    env |= {name: str(port) for name, port in ports.items()} | {"O2C_STATE_DIR": str(state)}
    with (tmp_path / "stdout").open("w") as stdout, (tmp_path / "stderr").open("w") as stderr:
        dev = subprocess.Popen([binary("o2c"), "dev", *flags], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
    return ports, state, dev


def _nothing_left(processes: Iterable[psutil.Process], ports: Iterable[int]) -> None:
    alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert [port for port in ports if _listening(port)] == []
