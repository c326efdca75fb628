"""``o2c finance customer show|set|block|unblock``: the customer master, read and changed (audited)."""

import argparse
import json
import sys
from typing import Any

from o2c.cli.common import run_client
from o2c.platform.config import get_settings

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

    return run_client(main())


def add_customer_command(actions: Any) -> None:
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
