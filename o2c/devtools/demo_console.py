"""The demo's side of the finance console: a user per role, their approval limits, and what to print.

The demo users share one password, made at random once per state folder and kept there (readable by its
owner only) like the stack's other secrets: a password printed in the README would open a finance manager's
account on any database a dev stack ever wrote, and a newcomer loses nothing, since ``o2c dev --demo``
prints it each time. Users and limits that exist already are left as they are, so a restart changes nothing
and a limit someone changed by hand stays changed."""

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.money import to_minor
from models.tables import ApprovalLimit, ConsoleUser
from o2c.access import Role, add_user, set_limit
from o2c.devtools.supervisor import state_secret
from o2c.platform.config import Settings

PASSWORD_FILE = "console-demo-password"  # noqa: S105  (the file's name; the password is made at random)
# username, role, what they do in the console (printed beside the username, with their limits)
USERS = [
    ("clerk", Role.AR_CLERK, "AR clerk: cash exceptions, disputes"),
    ("credit", Role.CREDIT_CONTROLLER, "credit controller: credit holds, customer master, disputes"),
    ("collector", Role.COLLECTOR, "collector: the collections worklist"),
    ("manager", Role.FINANCE_MANAGER, "finance manager: everything; approves above the others' limits"),
    ("auditor", Role.AUDITOR, "auditor: reads everything, decides nothing"),
]
# The most each role writes off or refunds alone in the demo's currencies; above it a finance manager approves.
LIMITS = [
    (Role.COLLECTOR, "write_off", Decimal("50.00")),
    (Role.AR_CLERK, "write_off", Decimal("100.00")),
    (Role.AR_CLERK, "refund", Decimal("100.00")),
]
CURRENCIES = ("USD", "EUR")


@dataclass
class DemoUsers:
    password: str
    password_file: Path
    made: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    new_password: bool = False  # made in this run: users that existed before have another password


def add_demo_users(settings: Settings, engine: Engine) -> DemoUsers:
    """A user per role and the demo's limits, where they are missing."""
    password_file = settings.state_dir.resolve() / PASSWORD_FILE
    new_password = not password_file.exists()
    password_file.parent.mkdir(parents=True, exist_ok=True)
    users = DemoUsers(state_secret(password_file, lambda: secrets.token_urlsafe(12)), password_file)
    users.new_password = new_password
    with Session(engine) as session:
        existing = set(session.exec(select(ConsoleUser.username)).all())
        limits = {(row.role, row.action, row.currency) for row in session.exec(select(ApprovalLimit)).all()}
    for username, role, does in USERS:
        if username in existing:
            users.existed.append(username)
            continue
        add_user(engine, username, f"Demo {does.split(':')[0]}", role.value, users.password)
        users.made.append(username)
    for role, action, amount in LIMITS:
        for currency in CURRENCIES:
            if (role.value, action, currency) not in limits:
                set_limit(engine, role, action, currency, to_minor(amount, currency), "demo")
    return users


def _limits_of(role: Role) -> str:
    verbs = {"write_off": "writes off", "refund": "refunds"}
    mine = [f"{verbs[action]} up to {amount}" for who, action, amount in LIMITS if who == role]
    return f"{' and '.join(mine)} {'/'.join(CURRENCIES)} alone" if mine else ""


def console_lines(url: str, users: DemoUsers | None) -> str:
    """What ``o2c dev`` prints about the console: its URL and, after the demo, who signs in with what."""
    lines = [f"\nFinance console: {url}"]
    if users is None:
        lines.append(
            "  No users yet: `o2c users add NAME --roles ar_clerk,collector --password-stdin` makes one "
            "(roles: ar_clerk, credit_controller, collector, finance_manager, auditor)."
        )
        return "\n".join(lines)
    lines.append(f"  Demo users, one password (development only): {users.password}  (in {users.password_file})")
    for username, role, does in USERS:
        limits = _limits_of(role)
        lines.append(f"    {username:<10} {does}" + (f"; {limits}" if limits else ""))
    if users.existed and users.new_password:
        lines.append(
            f"  {', '.join(users.existed)} existed before this password was made and keep theirs: "
            "`o2c users password NAME --password-stdin` sets it."
        )
    lines.append(
        "  Waiting in its queues: a credit hold, cash exceptions (one with the engine's suggestion), a dispute,\n"
        "  an overdue customer to call and a write-off for a finance manager to approve."
    )
    return "\n".join(lines)
