"""Cash exceptions: receipts nobody could apply automatically, oldest first, with the engine's suggestion and
its reason. An AR clerk applies one to one or several open invoices, each partly or fully, through exactly
what ``o2c cash apply`` calls: ``apply_by_hand`` for each invoice's order, then ``deliver``."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Row, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from temporalio.service import RPCError

import o2c.web.console.customers as customers
from activities.cash_application import CashError, apply_by_hand, deliver
from models.money import MoneyError, format_money, from_minor, to_minor
from models.tables import CashApplication, CashReceipt, Customer, Invoice
from o2c.access import Permission
from o2c.platform.db import is_postgres, snapshot
from o2c.web.console.pages import (
    amount_field,
    current_user,
    flash,
    form,
    page_number,
    paged,
    read,
    render,
    requires,
    state,
    text,
)
from o2c.web.console.queues import Queue, QueueSize

PER_PAGE = 25
SEARCH_LIMIT = 20
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# Each invoice's application is keyed by the form's request id and the invoice: a form posted twice is one
# application per invoice (apply_by_hand answers the first for a request id it has seen).
LINE_IDS = uuid.UUID("6f1d2c9e-3b57-4f0a-9a43-0c5e7d1b2a84")
# Money left on a receipt is in the queue (new, unapplied or part-applied: applied and debit receipts hold none),
# which the partial index ix_cash_receipts_waiting answers in booking order.
WAITING = (col(CashReceipt.unapplied_minor) > 0,)


def line_request_id(request_id: str, invoice_number: str) -> str:
    return uuid.uuid5(LINE_IDS, f"{request_id}:{invoice_number}").hex


def _since(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), UTC)


def queue_size(engine: Engine) -> QueueSize:
    with snapshot(engine) as session:
        count, oldest = session.exec(select(func.count(), func.min(CashReceipt.booked_on)).where(*WAITING)).one()
    return QueueSize(int(count), _since(oldest))


QUEUES = [Queue("cash", "Cash exceptions", "/cash", Permission.APPLY_CASH, queue_size)]


def waiting_receipts(engine: Engine, page: int) -> Any:
    with snapshot(engine) as session:
        rows = session.exec(
            select(CashReceipt, Customer.name)
            .outerjoin(Customer, col(Customer.id) == CashReceipt.customer_id)
            .where(*WAITING)
            .order_by(col(CashReceipt.booked_on), col(CashReceipt.id))
            .offset((page - 1) * PER_PAGE)
            .limit(PER_PAGE + 1)
        ).all()
        total = session.exec(select(func.count()).select_from(CashReceipt).where(*WAITING)).one()
    return paged(rows, page, PER_PAGE, int(total))


def _open_invoices() -> Any:
    return (
        sa_select(
            col(Invoice.number),
            col(Invoice.order_id),
            col(Invoice.customer_id),
            col(Customer.name).label("customer_name"),
            col(Invoice.currency),
            col(Invoice.open_minor),
            col(Invoice.total_minor),
            col(Invoice.due_date),
        )
        .join(Customer, col(Customer.id) == col(Invoice.customer_id))
        .where(col(Invoice.open_minor) > 0)
    )


def _as_minor(query: str, currency: str) -> int | None:
    try:
        return to_minor(Decimal(query.replace(",", "")), currency)
    except (ArithmeticError, MoneyError):
        return None


def search(session: Session, receipt: CashReceipt, query: str) -> list[Row[Any]]:
    """Open invoices in the receipt's currency: by the amount open, by the start of their number, or by the
    start of their customer's id or name (each a query an index answers); with nothing asked, those of the
    customer the engine named."""
    open_here = _open_invoices().where(col(Invoice.currency) == receipt.currency)
    query, postgres = query.strip()[:100], is_postgres(session.connection())
    if not query:
        wanted = [open_here.where(col(Invoice.customer_id) == receipt.customer_id)] if receipt.customer_id else []
    elif (minor := _as_minor(query, receipt.currency)) is not None:
        wanted = [open_here.where(col(Invoice.open_minor) == minor)]
    else:
        needle = query.lower() if postgres else "".join(c.lower() if c.isascii() else c for c in query)
        named = or_(*(customers.starts_with(postgres, func.lower(c), needle) for c in (Customer.id, Customer.name)))
        ids = session.execute(sa_select(col(Customer.id)).where(named).limit(SEARCH_LIMIT)).scalars().all()
        by_number = customers.starts_with(postgres, col(Invoice.number), query.upper())
        wanted = [open_here.where(by_number), open_here.where(col(Invoice.customer_id).in_(ids))]
    rows = {
        row.number: row
        for each in wanted
        for row in session.execute(each.order_by(col(Invoice.due_date), col(Invoice.number)).limit(SEARCH_LIMIT))
    }
    return sorted(rows.values(), key=lambda row: (row.due_date, row.number))[:SEARCH_LIMIT]


def _chosen(session: Session, receipt: CashReceipt, numbers: list[str]) -> list[tuple[Row[Any], str]]:
    """The invoices a form starts with (the engine's suggestion, then any added), each pre-filled with what
    the receipt still covers of it, in that order."""
    wanted = list(dict.fromkeys(n for n in numbers if n))[:SEARCH_LIMIT]
    if not wanted:
        return []
    rows = session.execute(
        _open_invoices().where(col(Invoice.number).in_(wanted), Invoice.currency == receipt.currency)
    ).all()
    by_number = {row.number: row for row in rows}
    left, chosen = receipt.unapplied_minor, []
    for number in wanted:
        if (row := by_number.get(number)) is not None:
            amount = min(row.open_minor, left)
            left -= amount
            chosen.append((row, str(from_minor(amount, receipt.currency)) if amount else ""))
    return chosen


def receipt_page(engine: Engine, receipt_id: str, added: list[str], query: str) -> dict[str, Any] | None:
    with snapshot(engine) as session:
        receipt = session.get(CashReceipt, receipt_id)
        if receipt is None:
            return None
        customer = session.get(Customer, receipt.customer_id) if receipt.customer_id else None
        applications = session.exec(
            select(CashApplication).where(CashApplication.receipt_id == receipt_id).order_by(col(CashApplication.id))
        ).all()
        return {
            "receipt": receipt,
            "customer": customer,
            "applications": applications,
            "chosen": _chosen(session, receipt, [*receipt.suggestion.split(), *added]),
            "results": search(session, receipt, query),
            "query": query,
            "added": added,
        }


@requires(Permission.VIEW)
async def receipts(request: Request) -> Response:
    return render(
        request, "cash_application/list.html", {"paged": await read(request, waiting_receipts, page_number(request))}
    )


@requires(Permission.VIEW)
async def receipt(request: Request) -> Response:
    added = [n for n in request.query_params.getlist("add") if n][:SEARCH_LIMIT]
    context = await read(
        request, receipt_page, request.path_params["receipt_id"], added, request.query_params.get("q", "")
    )
    if context is None:
        return render(request, "error.html", {"title": "Not found", "message": "There is no such receipt."}, 404)
    return render(request, "cash_application/receipt.html", context)


def _found(engine: Engine, receipt_id: str, query: str) -> dict[str, Any] | None:
    with snapshot(engine) as session:
        receipt = session.get(CashReceipt, receipt_id)
        return None if receipt is None else {"receipt": receipt, "results": search(session, receipt, query)}


@requires(Permission.VIEW)
async def invoices(request: Request) -> Response:
    """The search's results as a fragment, for htmx as the user types."""
    context = await read(request, _found, request.path_params["receipt_id"], request.query_params.get("q", ""))
    if context is None:
        return Response("", status_code=404)
    return render(request, "cash_application/_results.html", context | {"query": request.query_params.get("q", "")})


def _line(engine: Engine, receipt_id: str, number: str) -> dict[str, Any] | None:
    with snapshot(engine) as session:
        receipt = session.get(CashReceipt, receipt_id)
        chosen = _chosen(session, receipt, [number]) if receipt is not None else []
        return {"receipt": receipt, "invoice": chosen[0][0], "prefill": chosen[0][1]} if chosen else None


@requires(Permission.APPLY_CASH)
async def line(request: Request) -> Response:
    """One invoice added to the application form (a table row, for htmx)."""
    context = await read(request, _line, request.path_params["receipt_id"], request.query_params.get("invoice", ""))
    if context is None:
        return Response("", status_code=404)
    return render(request, "cash_application/_line.html", context)


@dataclass(frozen=True)
class Line:
    number: str
    order_id: str
    amount_minor: int
    request_id: str


def plan(engine: Engine, receipt_id: str, request_id: str, wanted: list[tuple[str, Decimal | None]]) -> list[Line]:
    """The form's invoices and amounts checked together, before any is applied: each an open invoice in the
    receipt's currency, no amount more than its invoice has open or with more decimals than the currency
    has, and all of them no more than the receipt has unapplied. Lines this request applied before are
    kept as they are (``apply_by_hand`` answers them again), so a form posted twice applies once."""
    if not REQUEST_ID.fullmatch(request_id):
        raise CashError("the form carries no request id: open the receipt again")
    numbers = [number for number, amount in wanted if amount is not None]
    if not numbers:
        raise CashError("choose at least one invoice and give it an amount")
    if len(set(numbers)) != len(numbers):
        raise CashError("an invoice is in the form twice: give it one amount")
    ids = {number: line_request_id(request_id, number) for number in numbers}
    with snapshot(engine) as session:
        receipt = session.get(CashReceipt, receipt_id)
        if receipt is None:
            raise CashError(f"no receipt {receipt_id}")
        found = session.exec(select(Invoice).where(col(Invoice.number).in_(numbers))).all()
        done = set(
            session.exec(
                select(CashApplication.request_id).where(col(CashApplication.request_id).in_(list(ids.values())))
            ).all()
        )
    invoices = {invoice.number: invoice for invoice in found}
    lines, total = [], 0
    for number, amount in wanted:
        if amount is None:
            continue
        invoice = invoices.get(number)
        if invoice is None:
            raise CashError(f"no invoice {number}")
        if ids[number] in done:
            lines.append(Line(number, invoice.order_id, 0, ids[number]))
            continue
        try:
            minor = to_minor(amount, receipt.currency)
        except MoneyError as exc:
            raise CashError(f"{number}: {exc}") from None
        if invoice.currency != receipt.currency:
            raise CashError(f"{number} is in {invoice.currency}, the receipt in {receipt.currency}")
        if minor <= 0:
            raise CashError(f"{number}: an amount to apply is more than zero (leave it empty to skip the invoice)")
        if minor > invoice.open_minor:
            raise CashError(
                f"{number} has {format_money(invoice.open_minor, invoice.currency)} open; cannot apply more"
            )
        lines.append(Line(number, invoice.order_id, minor, ids[number]))
        total += minor
    if total > receipt.unapplied_minor:
        raise CashError(
            f"the amounts add up to {format_money(total, receipt.currency)}, more than the "
            f"{format_money(receipt.unapplied_minor, receipt.currency)} unapplied on receipt {receipt_id}"
        )
    return lines


def _wanted(data: FormData) -> list[tuple[str, Decimal | None]]:
    try:
        numbers = [number for number in data.getlist("invoice") if isinstance(number, str) and number]
        return [(number, amount_field(data, f"amount-{number}")) for number in numbers]
    except ValueError as exc:
        raise CashError(str(exc)) from None


def _outcomes(engine: Engine, ids: list[int]) -> list[CashApplication]:
    with snapshot(engine) as session:
        return list(session.exec(select(CashApplication).where(col(CashApplication.id).in_(ids))).all())


@requires(Permission.APPLY_CASH)
async def apply(request: Request) -> Response:
    receipt_id = request.path_params["receipt_id"]
    target = RedirectResponse(f"/cash/{receipt_id}", status_code=303)
    data = await form(request)
    engine, user = state(request).engine, current_user(request)
    assert user is not None
    try:
        lines = await run_in_threadpool(plan, engine, receipt_id, text(data, "request_id"), _wanted(data))
    except CashError as exc:
        flash(request, "error", f"Nothing was applied: {exc}")
        return target
    applied: list[tuple[Line, CashApplication]] = []
    for each in lines:
        try:
            application = await run_in_threadpool(
                apply_by_hand,
                engine,
                receipt_id,
                each.order_id,
                each.amount_minor,
                user.username,
                text(data, "note"),
                each.request_id,
            )
        except CashError as exc:
            flash(request, "error", f"{each.number}: refused: {exc}")
            break
        applied.append((each, application))
    ids = [application.id for _, application in applied if application.id is not None]
    try:
        await deliver(engine, state(request).client().temporal, ids)
    except RPCError as exc:
        flash(request, "error", f"Applied, but the orders could not be told yet ({exc}); they will be told later")
    settled = {a.id: a for a in await read(request, _outcomes, ids)}
    for each, application in applied:
        now = settled.get(application.id, application)
        money = format_money(now.amount_minor, now.currency)
        if now.status == "refused":
            flash(request, "error", f"{each.number}: refused: {now.refusal}; the {money} are back on the receipt")
        elif each.amount_minor == 0:
            flash(request, "info", f"{money} to {each.number} was applied before: this form was sent already")
        else:
            flash(request, "ok", f"{money} applied to {each.number} (order {now.order_id})")
    return target


routes = [
    Route("/cash", receipts, name="cash"),
    Route("/cash/{receipt_id}", receipt, name="cash_receipt"),
    Route("/cash/{receipt_id}/invoices", invoices, name="cash_invoices"),
    Route("/cash/{receipt_id}/line", line, name="cash_line"),
    Route("/cash/{receipt_id}/apply", apply, methods=["POST"], name="cash_apply"),
]
