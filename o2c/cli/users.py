"""``o2c users …``: the finance console's users and the approval limits of their roles."""

import argparse
import getpass
import sys
from decimal import Decimal, InvalidOperation
from typing import Any


def _engine() -> Any:
    from o2c.platform.config import get_settings
    from o2c.platform.db import make_engine, migrate

    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    return engine


def _password(args: argparse.Namespace) -> str | None:
    if args.sso_only:
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(f"password for {args.username}: ")


def cmd_add(args: argparse.Namespace) -> int:
    from o2c.access import AccessError, add_user

    try:
        user = add_user(_engine(), args.username, args.name or args.username, args.roles, _password(args), args.email)
    except AccessError as exc:
        print(f"o2c users add: {exc}", file=sys.stderr)
        return 1
    print(f"user {user.username} ({', '.join(sorted(user.roles))}) added")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    from o2c.access import AccessError, set_password

    args.sso_only = False
    try:
        set_password(_engine(), args.username, _password(args) or "")
    except AccessError as exc:
        print(f"o2c users password: {exc}", file=sys.stderr)
        return 1
    print(f"password of {args.username} changed")
    return 0


def cmd_active(args: argparse.Namespace) -> int:
    from o2c.access.users import AccessError, set_active

    active = args.action == "activate"
    try:
        set_active(_engine(), args.username, active)
    except AccessError as exc:
        print(f"o2c users {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.username} {'activated' if active else 'deactivated: signed out on their next request'}")
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    from sqlmodel import Session, select

    from models.tables import ApprovalLimit, ConsoleUser

    with Session(_engine()) as session:
        for user in session.exec(select(ConsoleUser).order_by(ConsoleUser.username)):
            state = "active" if user.active else "inactive"
            print(f"{user.username:20} {user.display_name:30} {user.roles:40} {state}")
        for limit in session.exec(select(ApprovalLimit).order_by(ApprovalLimit.role, ApprovalLimit.action)):
            print(f"limit {limit.role} {limit.action} {limit.currency} {limit.max_minor} minor units")
    return 0


def cmd_limit(args: argparse.Namespace) -> int:
    from models.money import MoneyError, to_minor
    from o2c.access import AccessError, parse_roles, set_limit

    try:
        [role] = parse_roles(args.role)
        set_limit(_engine(), role, args.action, args.currency, to_minor(Decimal(args.amount), args.currency), args.by)
    except (AccessError, ValueError, InvalidOperation, MoneyError) as exc:
        print(f"o2c users limit: {exc}", file=sys.stderr)
        return 1
    print(f"{args.role} may {args.action.replace('_', '-')} up to {args.amount} {args.currency} alone")
    return 0


def add_user_commands(sub: Any) -> None:
    users = sub.add_parser("users", help="the finance console's users and approval limits")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a console user")
    add.add_argument("username")
    add.add_argument(
        "--roles",
        required=True,
        help="comma-separated: ar_clerk, credit_controller, collector, finance_manager, auditor",
    )
    add.add_argument("--name", help="display name")
    add.add_argument("--email", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--sso-only", action="store_true", help="no password: signs in through single sign-on only")
    add.set_defaults(run=cmd_add)
    password = actions.add_parser("password", help="set a user's password")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(run=cmd_password)
    actions.add_parser("list", help="users and limits").set_defaults(run=cmd_list)
    for action, help_text in (("deactivate", "a user who left: signed out at once"), ("activate", "undo it")):
        toggle = actions.add_parser(action, help=help_text)
        toggle.add_argument("username")
        toggle.set_defaults(run=cmd_active)
    limit = actions.add_parser("limit", help="the most a role may write off or refund alone, per currency")
    limit.add_argument("role")
    limit.add_argument("action", choices=["write_off", "refund"])
    limit.add_argument("currency")
    limit.add_argument("amount", help="in the currency's units, e.g. 250.00")
    limit.add_argument("--by", required=True, help="who sets it")
    limit.set_defaults(run=cmd_limit)
