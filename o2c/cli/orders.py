"""``o2c order`` and ``o2c report``: start an order or read its status, and the receivables report."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from o2c.cli.common import run_client
from o2c.platform.config import get_settings


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

    return run_client(main())


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


def add_order_commands(sub: Any) -> None:
    order = sub.add_parser("order", help="start an order from a JSON file, or show an order's status")
    order.add_argument("action", choices=["start", "status"])
    order.add_argument("target", help="JSON file (start) or order id (status)")
    order.add_argument("--json", action="store_true", help="status as JSON")
    order.set_defaults(run=cmd_order)
    report = sub.add_parser("report", help="receivables aging, DSO, CEI and match rates, with a chart (PNG)")
    report.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
    report.add_argument("--days", type=int, default=90, help="the period for DSO and CEI")
    report.add_argument("--chart", default="o2c-aging.png", help="where to write the chart ('none': no chart)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=cmd_report)
