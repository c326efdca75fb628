"""``o2c cash match``: match a statement against open invoices from a CSV file, without Temporal or a database."""

import argparse
import csv
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from models.money import from_minor
from o2c.platform.config import get_settings
from o2c.platform.csvout import write_csv
from o2c.statements import CsvMapping, StatementError, StatementFormat, parse_statement


def read_statement(args: argparse.Namespace) -> Any:
    """The statement the command line names (its format, the CSV mapping), or the command ends saying why."""
    path = Path(args.statement)
    try:
        mapping = CsvMapping.parse(args.map or [])
        statement = parse_statement(path.read_bytes(), StatementFormat(args.format) if args.format else None, mapping)
    except StatementError as exc:
        raise SystemExit(f"o2c cash: {path}: {exc}; nothing was imported") from exc
    except OSError as exc:
        raise SystemExit(f"o2c cash: {exc}") from exc
    for warning in statement.warnings:  # off the format, not where money is: read, and said so
        print(f"o2c cash: {path}: warning: {warning}", file=sys.stderr)
    return statement


INVOICE_COLUMNS = (
    "invoice_number",
    "customer_id",
    "customer_name",
    "customer_accounts",
    "currency",
    "open_amount",
    "total_amount",
    "payment_reference",
    "due_date",
    "discount_amount",
    "discount_until",
    "order_id",
)
MATCH_COLUMNS = (
    "line_id",
    "location",
    "booked_on",
    "amount",
    "currency",
    "payer_name",
    "decision",
    "tier",
    "rule",
    "confidence",
    "customer_id",
    "invoice_number",
    "applied_amount",
    "discount",
    "unapplied_amount",
    "flags",
    "reason",
)


def read_open_invoices(path: Path) -> tuple[list[Any], list[Any]]:
    """The invoices CSV of ``o2c cash match`` (columns in INVOICE_COLUMNS; README): invoices and customers."""
    from models.money import check_currency, to_minor
    from o2c.matching import Customer, OpenInvoice

    invoices: list[OpenInvoice] = []
    customers: dict[str, Customer] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"invoice_number", "customer_id", "currency", "open_amount"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"o2c cash match: {path}: line 1: missing columns {sorted(missing)}")
        for line_no, row in enumerate(reader, start=2):
            try:
                currency = check_currency(row["currency"].strip())
                open_minor = to_minor(Decimal(row["open_amount"]), currency)
                total = row.get("total_amount") or ""
                discount = row.get("discount_amount") or ""
                invoices.append(
                    OpenInvoice(
                        number=row["invoice_number"].strip(),
                        customer_id=row["customer_id"].strip(),
                        currency=currency,
                        open_minor=open_minor,
                        total_minor=to_minor(Decimal(total), currency) if total else open_minor,
                        payment_reference=(row.get("payment_reference") or "").strip(),
                        order_id=(row.get("order_id") or "").strip(),
                        due_date=date.fromisoformat(row["due_date"]) if row.get("due_date") else None,
                        discount_minor=to_minor(Decimal(discount), currency) if discount else 0,
                        discount_until=date.fromisoformat(row["discount_until"]) if row.get("discount_until") else None,
                    )
                )
            except (InvalidOperation, ValueError, KeyError) as exc:
                raise SystemExit(f"o2c cash match: {path}: line {line_no}: {exc}; nothing was matched") from exc
            customer_id = row["customer_id"].strip()
            if customer_id not in customers:
                accounts = tuple(a.strip() for a in (row.get("customer_accounts") or "").split(";") if a.strip())
                customers[customer_id] = Customer(customer_id, (row.get("customer_name") or "").strip(), accounts)
    return invoices, list(customers.values())


def match_rows(lines: list[Any], proposals: list[Any]) -> Iterator[dict[str, Any]]:
    """One row per allocation; amounts as Decimal, so the CSV keeps them numbers (o2c.platform.csvout)."""
    for line, proposal in zip(lines, proposals, strict=True):
        decision = (
            "debit" if line.amount_minor <= 0 else "auto" if proposal.auto else "review" if proposal.tier else "none"
        )
        base = {
            "line_id": line.id,
            "location": line.where,
            "booked_on": line.booked_on.isoformat(),
            "amount": from_minor(line.amount_minor, line.currency),
            "currency": line.currency,
            "payer_name": line.payer_name,
            "decision": decision,
            "tier": proposal.tier,
            "rule": proposal.rule,
            "confidence": proposal.confidence,
            "customer_id": proposal.customer_id or "",
            "unapplied_amount": from_minor(proposal.unapplied_minor, line.currency) if proposal.auto else "",
            "flags": " ".join(proposal.flags),
            "reason": proposal.reason,
        }
        if not proposal.allocations:
            yield {**base, "invoice_number": "", "applied_amount": "", "discount": ""}
        for allocation in proposal.allocations:
            yield {
                **base,
                "invoice_number": allocation.invoice_number,
                "applied_amount": from_minor(allocation.amount_minor, line.currency),
                "discount": from_minor(allocation.discount_minor, line.currency),
            }


def _write_matches(out: Any, lines: list[Any], proposals: list[Any]) -> None:
    write_csv(out, MATCH_COLUMNS, match_rows(lines, proposals))


def cmd_match(args: argparse.Namespace) -> int:
    from o2c.matching import bulk

    with bulk():
        return _match_files(args)


def _match_files(args: argparse.Namespace) -> int:
    import time

    from o2c.matching import Matcher

    began = time.perf_counter()
    invoices, customers = read_open_invoices(Path(args.invoices))
    statement = read_statement(args)
    read = time.perf_counter() - began
    matcher = Matcher(invoices, customers, threshold=args.threshold, series=(get_settings().invoice_series,))
    lines = statement.lines
    proposals = [matcher.match(line.as_bank_line()) for line in lines]
    matched = time.perf_counter() - began - read
    if args.out == "-":
        _write_matches(sys.stdout, lines, proposals)
    else:
        with Path(args.out).open("w", newline="", encoding="utf-8") as out:
            _write_matches(out, lines, proposals)
    auto = sum(p.auto for p in proposals)
    credits = sum(1 for line in lines if line.amount_minor > 0)
    print(
        f"{len(lines):,} lines ({credits:,} credits) against {len(invoices):,} open invoices: {auto:,} matched "
        f"automatically ({auto / max(1, credits):.1%} of credits), {credits - auto:,} for review; "
        f"read in {read:.1f} s, matched in {matched:.1f} s",
        file=sys.stderr,
    )
    return 0
