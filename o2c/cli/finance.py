"""``o2c finance …``: finance's decisions on orders, documents sent again, refunds and statements."""

import argparse
import json
from typing import Any

from o2c.cli.common import run_client
from o2c.cli.contacts import add_contact_command
from o2c.cli.customers import add_customer_command

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

    return run_client(main())


def cmd_resend(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        request = {"number": args.number, "by": args.by, "to": args.to, "request_id": args.request_id}
        sent = await O2CClient(await connect()).resend_document({k: v for k, v in request.items() if v})
        print(f"{args.number}: {'already sent for this request' if sent.already_sent else 'sent'} ({sent.message_id})")

    return run_client(main())


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

    return run_client(main())


def cmd_statement(args: argparse.Namespace) -> int:
    from o2c.client import O2CClient
    from o2c.platform.temporal import connect

    async def main() -> None:
        request = {"customer_id": args.customer_id, "by": args.by, "to": args.to, "request_id": args.request_id}
        sent = await O2CClient(await connect()).send_statement({k: v for k, v in request.items() if v})
        print(f"statement for {args.customer_id}: {'already sent' if sent.already_sent else 'sent'}")

    return run_client(main())


def add_finance_commands(sub: Any) -> None:
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
    add_customer_command(actions)
    add_contact_command(actions)
