"""``o2c cash …``: import statements, work the exception queue, and match files without Temporal."""

import argparse
import asyncio
import json
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from models.money import format_money, from_minor
from o2c.cli.cash_match import cmd_match, read_statement
from o2c.platform.config import get_settings
from o2c.statements import StatementFormat


def _engine() -> Any:
    from o2c.platform.db import make_engine, migrate

    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    return engine


async def start_cash_application(client: Any, statement_key: str | None, by: str) -> Any:
    """The ``CashApplication`` workflow for an imported statement (or a rematch of the queue)."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    from models.activity_io import CashApplied, MatchReceipts
    from models.naming import CASH_APPLICATION_WORKFLOW, TASK_QUEUE, cash_application_id

    return await client.start_workflow(
        CASH_APPLICATION_WORKFLOW,
        MatchReceipts(statement_key=statement_key, requested_by=by),
        id=cash_application_id(statement_key, uuid.uuid4().hex[:12]),
        task_queue=TASK_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=CashApplied,
        static_summary=f"cash application: {'statement ' + statement_key if statement_key else 'rematch'} by {by}",
    )


async def _run_cash_application(statement_key: str | None, by: str) -> Any:
    from o2c.platform.temporal import connect

    handle = await start_cash_application(await connect(), statement_key, by)
    print(f"cash application running as workflow {handle.id} (Temporal UI)")
    return await handle.result()


def _print_applied(result: Any) -> None:
    print(
        f"{result.receipts} receipts matched: {result.applied} applied automatically "
        f"({result.delivered} orders told, {result.refused} refused), {result.unapplied} to the exception queue "
        f"(`o2c cash unapplied`), {result.flagged} flagged"
    )


def cmd_import(args: argparse.Namespace) -> int:
    from activities.cash_application import store_statement

    statement = read_statement(args)
    row, new = store_statement(_engine(), statement, args.by)
    name = f"statement {row.statement_id or Path(args.statement).name} ({row.format}, account {row.account or '-'})"
    if not new:
        print(f"{name} was imported before ({row.imported_at:%Y-%m-%d %H:%M} by {row.imported_by}): nothing new")
    else:
        print(f"{name}: {row.lines} lines, {row.new_lines} new; key {row.key}")
    _print_applied(asyncio.run(_run_cash_application(row.key, args.by)))
    return 0


def cmd_rematch(args: argparse.Namespace) -> int:
    _print_applied(asyncio.run(_run_cash_application(None, args.by)))
    return 0


def cmd_unapplied(args: argparse.Namespace) -> int:
    from sqlmodel import Session, col, select

    from models.tables import CashReceipt

    with Session(_engine()) as session:
        receipts = session.exec(
            select(CashReceipt)
            .where(CashReceipt.unapplied_minor > 0, col(CashReceipt.status).in_(("unapplied", "part_applied", "new")))
            .order_by(col(CashReceipt.booked_on), col(CashReceipt.id))
        ).all()
        flagged = (
            session.exec(
                select(CashReceipt).where(CashReceipt.flags.contains("short")).order_by(col(CashReceipt.booked_on))  # type: ignore[attr-defined]
            ).all()
            if args.flagged
            else []
        )
    rows: list[dict[str, Any]] = [
        {
            "receipt": r.id,
            "booked_on": r.booked_on.isoformat(),
            "unapplied": str(from_minor(r.unapplied_minor, r.currency)),
            "of": str(from_minor(r.amount_minor, r.currency)),
            "currency": r.currency,
            "payer": r.payer_name,
            "account": r.payer_account,
            "text": " ".join(t for t in (r.reference, r.remittance) if t),
            "customer": r.customer_id or "",
            "suggestion": r.suggestion,
            "confidence": r.confidence,
            "reason": r.reason,
            "source": r.source if r.source != "bank" else r.location,
        }
        for r in [*receipts, *flagged]
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("nothing unapplied")
        return 0
    for row in rows:
        amount = f"{row['unapplied']:>12} {row['currency']} (of {row['of']})"
        print(f"{row['receipt']}  {row['booked_on']}  {amount}  {row['payer'][:30]}")
        print(f"    text: {row['text'][:100]}")
        if row["suggestion"]:
            print(
                f"    suggestion: {row['suggestion']} (confidence {row['confidence']:.2f}, customer {row['customer']})"
            )
        print(f"    why: {row['reason']}")
    print(f"{len(rows)} receipts; apply one with `o2c cash apply RECEIPT ORDER [--amount A] --by WHO`")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from activities.cash_application import CashError, apply_by_hand, deliver
    from models.money import MoneyError, to_minor
    from models.tables import CashReceipt
    from o2c.platform.temporal import connect

    engine = _engine()
    amount_minor = None
    if args.amount:
        from sqlmodel import Session

        with Session(engine) as session:
            receipt = session.get(CashReceipt, args.receipt)
        if receipt is None:
            raise SystemExit(f"o2c cash apply: no receipt {args.receipt}")
        try:
            amount_minor = to_minor(Decimal(args.amount), receipt.currency)
        except (InvalidOperation, MoneyError) as exc:
            raise SystemExit(f"o2c cash apply: --amount {args.amount}: {exc}") from exc
    try:
        application = apply_by_hand(
            engine,
            args.receipt,
            args.order_id,
            amount_minor,
            args.by,
            args.note or "",
            args.request_id or uuid.uuid4().hex,
        )
    except CashError as exc:
        raise SystemExit(f"o2c cash apply: {exc}") from exc

    assert application.id is not None
    application_id = application.id

    async def tell() -> Any:
        return await deliver(engine, await connect(), [application_id])

    delivered = asyncio.run(tell())
    money = format_money(application.amount_minor, application.currency)
    if delivered.refused:
        print(f"refused: order {args.order_id} is not open; the money is back on receipt {args.receipt}")
        return 1
    print(f"applied {money} of {args.receipt} to order {args.order_id} ({application.payment_id})")
    return 0


def add_cash_commands(sub: Any) -> None:
    cash = sub.add_parser("cash", help="bank statements, the exception queue, and matching files")
    actions = cash.add_subparsers(dest="cash_action", required=True)

    def statement_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", choices=[f.value for f in StatementFormat], help="default: detected")
        p.add_argument(
            "--map",
            action="append",
            metavar="FIELD=VALUE",
            help="CSV columns and options, e.g. booked_on=Buchungstag amount=Betrag decimal_comma=yes "
            "date_format=%%d.%%m.%%Y default_currency=EUR delimiter=;",
        )

    imp = actions.add_parser("import", help="import a statement (camt.053/054, BAI2, MT940, CSV) and apply it")
    imp.add_argument("statement", help="the file")
    imp.add_argument("--by", default="finance", help="who imports it (audit trail)")
    statement_options(imp)
    imp.set_defaults(run=cmd_import)
    rematch = actions.add_parser("rematch", help="match the exception queue again (new invoices, learned accounts)")
    rematch.add_argument("--by", default="finance")
    rematch.set_defaults(run=cmd_rematch)
    unapplied = actions.add_parser("unapplied", help="the exception queue: money nobody could apply automatically")
    unapplied.add_argument("--json", action="store_true")
    unapplied.add_argument("--flagged", action="store_true", help="also short payments applied but flagged")
    unapplied.set_defaults(run=cmd_unapplied)
    apply = actions.add_parser("apply", help="apply (part of) a receipt to an order, audited")
    apply.add_argument("receipt")
    apply.add_argument("order_id")
    apply.add_argument("--amount", help="default: all that is unapplied")
    apply.add_argument("--by", required=True, help="who decides")
    apply.add_argument("--note", help="why (audit trail)")
    apply.add_argument("--request-id", help="makes a repeat of this request harmless")
    apply.set_defaults(run=cmd_apply)
    match = actions.add_parser("match", help="match a statement against open invoices from CSV, no Temporal needed")
    match.add_argument("--invoices", required=True, help="open invoices CSV (README: columns)")
    match.add_argument("--statement", required=True, help="statement file, any supported format")
    match.add_argument("--out", default="-", help="matches CSV (default: stdout)")
    match.add_argument("--threshold", type=float, default=0.9, help="confidence applied automatically")
    statement_options(match)
    match.set_defaults(run=cmd_match)
