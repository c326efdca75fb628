"""Write-offs and refunds. Asked for from an order, decided alone within the asker's limit; above it, or where
the workflow wants a second person, queued for a finance manager. Approving sends the same write_off update or
refund workflow as the CLI, with the request's id as the decision's idempotency key."""

import uuid
from functools import partial
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from models.contract import RefundInvoice, RefundResult, WriteOff
from models.money import format_money, from_minor, to_minor
from models.tables import ApprovalRequest, Customer, Invoice, Order
from o2c.access import LimitCheck, Permission, SignedIn, check_limit
from o2c.access.approvals import (
    APPROVED,
    PENDING,
    REJECTED,
    ApprovalError,
    decide_request,
    find_request,
    note_attempt,
    pending,
    pending_for_order,
    pending_size,
    request_approval,
)
from o2c.client import InvalidInput, O2CError, UnknownOrder, validated
from o2c.web.console.pages import (
    amount_field,
    current_user,
    decide,
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
# The workflow's refusal of a write-off before dunning reached its write-off level without a second person
# (workflows/order/rules.py, refuse_write_off): such a write-off goes to a manager like one above the limit.
NEEDS_APPROVAL = "needs a finance manager's approval"


def _user(request: Request) -> SignedIn:
    user = current_user(request)
    assert user is not None, "behind requires()"
    return user


def _request_id(data: FormData) -> str:
    return text(data, "request_id") or uuid.uuid4().hex


def _no_order(request: Request, order_id: str) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": f"There is no order {order_id}."}, 404)


def _limit_text(check: LimitCheck, currency: str) -> str:
    if check.limit_minor is None:
        return "You decide any amount alone."
    if check.limit_minor == 0:
        return f"Your role decides none alone in {currency}: a finance manager approves every one."
    return f"You decide up to {format_money(check.limit_minor, currency)} alone; above it a finance manager approves."


def _above(check: LimitCheck, currency: str) -> str:
    return f"{check.reason} of {format_money(check.limit_minor, currency)}" if check.limit_minor else check.reason


def _again(request: Request, here: str, message: str) -> Response:
    flash(request, "error", message)
    return RedirectResponse(here, 303)


async def _form_page(request: Request, template: str, action: str, currency: str, **context: Any) -> Response:
    user = _user(request)
    limit = await read(request, check_limit, user.roles, action, currency, 0)
    waiting = await read(request, pending_for_order, request.path_params["order_id"])
    return render(request, template, {**context, "limit": _limit_text(limit, currency), "waiting": waiting})


async def _file(request: Request, why: str, **asked: Any) -> Response:
    """Nothing reaches the workflow: the request waits for a manager, and the asker is told why."""
    filed = await read(request, partial(request_approval, requested_by=_user(request).username, **asked))
    flash(request, "info", f"{why}: sent to a finance manager for approval (the {described(filed)}).")
    return RedirectResponse("/approvals", 303)


# ------------------------------------------------------------------------------------------- write-off


@requires(Permission.REQUEST_WRITE_OFF)
async def write_off(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    try:
        view = await state(request).client().status(order_id)
    except UnknownOrder:
        return _no_order(request, order_id)
    if request.method == "GET":
        title = f"Write off order {order_id}"
        return await _form_page(request, "approvals/write_off.html", "write_off", view.currency, title=title, view=view)
    here, user, data = f"/orders/{order_id}/write-off", _user(request), await form(request)
    reason, request_id = text(data, "reason"), _request_id(data)
    due_minor = to_minor(view.totals.due, view.currency)
    if due_minor == 0:
        return _again(request, here, f"Nothing is due on order {order_id}: there is nothing to write off.")
    try:
        amount = amount_field(data) or view.totals.due
        amount_minor = to_minor(amount, view.currency)
        validated(WriteOff, {"by": user.username, "reason": reason, "amount": amount, "request_id": request_id})
    except (ValueError, InvalidInput) as exc:
        return _again(request, here, str(exc))
    if amount_minor > due_minor:
        due = format_money(due_minor, view.currency)
        return _again(request, here, f"{format_money(amount_minor, view.currency)} is more than the {due} still due.")
    check = await read(request, check_limit, user.roles, "write_off", view.currency, amount_minor)
    why = _above(check, view.currency)
    if check.allowed:
        fields = {"reason": reason, "amount": amount, "request_id": request_id}
        outcome = await decide(request, order_id, "write_off", fields)
        if outcome.ok:
            flash(request, "ok", f"Order {order_id}: {outcome.message} ({format_money(amount_minor, view.currency)}).")
            return RedirectResponse(here, 303)
        if NEEDS_APPROVAL not in outcome.message:
            return _again(request, here, outcome.message)
        why = f"the workflow asks for a second person ({outcome.message.rpartition(': ')[2]})"
    return await _file(
        request,
        why,
        kind="write_off",
        order_id=order_id,
        customer_id=view.customer_id,
        amount_minor=amount_minor,
        currency=view.currency,
        reason=reason,
        request_id=request_id,
    )


# ---------------------------------------------------------------------------------------------- refund


def refund_context(engine: Engine, order_id: str) -> tuple[Order | None, list[Invoice]]:
    """The order and its paid invoices (nothing open on them: a refund credits what was paid)."""
    with Session(engine) as session:
        order = session.get(Order, order_id)
        invoices = session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.open_minor == 0, Invoice.total_minor > 0)
            .order_by(col(Invoice.issued_on), col(Invoice.number))
        ).all()
    return order, list(invoices)


@requires(Permission.REQUEST_REFUND)
async def refund(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    order, invoices = await read(request, refund_context, order_id)
    if order is None:
        return _no_order(request, order_id)
    if request.method == "GET":
        title = f"Refund on order {order_id}"
        context = {"title": title, "order": order, "invoices": invoices}
        return await _form_page(request, "approvals/refund.html", "refund", order.currency, **context)
    here, user, data = f"/orders/{order_id}/refund", _user(request), await form(request)
    invoice = next((i for i in invoices if i.number == text(data, "invoice_number")), None)
    if invoice is None:
        return _again(request, here, f"Choose a paid invoice of order {order_id} to refund.")
    try:
        amount = amount_field(data)
        if amount is None:
            raise ValueError("amount: say how much to refund")
        amount_minor = to_minor(amount, invoice.currency)
        asked = validated(
            RefundInvoice,
            {
                "order_id": order_id,
                "invoice_number": invoice.number,
                "amount": amount,
                "reason": text(data, "reason"),
                "by": user.username,
                "request_id": _request_id(data),
            },
        )
    except (ValueError, InvalidInput) as exc:
        return _again(request, here, str(exc))
    check = await read(request, check_limit, user.roles, "refund", invoice.currency, amount_minor)
    if not check.allowed:
        return await _file(
            request,
            _above(check, invoice.currency),
            kind="refund",
            order_id=order_id,
            customer_id=order.customer_id,
            amount_minor=amount_minor,
            currency=invoice.currency,
            reason=asked.reason,
            request_id=asked.request_id,
            invoice_number=invoice.number,
        )
    try:
        result = await state(request).client().refund_invoice(asked)
    except O2CError as exc:
        return _again(request, here, str(exc))
    flash(request, "ok", refunded(result))
    return RedirectResponse(here, 303)


def described(asked: ApprovalRequest) -> str:
    on = f"invoice {asked.invoice_number}" if asked.invoice_number else f"order {asked.order_id}"
    money = format_money(asked.amount_minor, asked.currency)
    return f"{asked.kind.replace('_', '-')} of {money} on {on} asked by {asked.requested_by}"


def refunded(result: RefundResult) -> str:
    return (
        f"Credit note {result.credit_note_number}: {format_money(result.refunded_minor, result.currency)} refunded "
        f"to the card, {format_money(result.held_as_credit_minor, result.currency)} held as the customer's credit."
    )


# -------------------------------------------------------------------------------------------- approvals


def pending_page(engine: Engine, page: int, per_page: int) -> tuple[list[ApprovalRequest], dict[str, str]]:
    """A page of pending requests and their customers' names, read by key for that page alone."""
    rows = pending(engine, page, per_page)
    with Session(engine) as session:
        ids = {row.customer_id for row in rows}
        names = dict(session.exec(select(Customer.id, Customer.name).where(col(Customer.id).in_(ids))).all())
    return rows, names


@requires(Permission.VIEW)
async def approvals(request: Request) -> Response:
    page = page_number(request)
    rows, names = await read(request, pending_page, page, PER_PAGE)
    context = {"title": "Approvals", "requests": paged(rows, page, PER_PAGE), "names": names}
    return render(request, "approvals/queue.html", context)


async def carry_out(request: Request, asked: ApprovalRequest, manager: str) -> tuple[bool, str]:
    """The approved decision, sent as the CLI sends it, the request's id its idempotency key. A write-off
    keeps who asked as its ``by`` and the manager as ``approved_by``. A refund has no ``approved_by``: the
    manager who lets the money go is its ``by``, and who asked stays on the request (its id is the refund's
    request id, in the refund workflow's id and the credit note's key)."""
    amount = from_minor(asked.amount_minor, asked.currency)
    common = {"amount": amount, "reason": asked.reason, "request_id": asked.id}
    client = state(request).client()
    try:
        if asked.kind == "write_off":
            decision = {"by": asked.requested_by, "approved_by": manager, **common}
            result = await client.write_off(asked.order_id, decision)
            return result.accepted, result.message
        target = {"order_id": asked.order_id, "invoice_number": asked.invoice_number}
        done = await client.refund_invoice({**target, "by": manager, **common})
    except O2CError as exc:
        return False, str(exc)
    return True, refunded(done)


@requires(Permission.APPROVE)
async def approve(request: Request) -> Response:
    manager = _user(request).username
    asked = await read(request, find_request, request.path_params["request_id"])
    if asked is None:
        return render(request, "error.html", {"title": "Not found", "message": "There is no such request."}, 404)
    if asked.status != PENDING:
        flash(request, "info", f"The {described(asked)} is already {asked.status} by {asked.decided_by}.")
    elif asked.requested_by.casefold() == manager.casefold():
        flash(request, "error", f"You asked for the {described(asked)}: another finance manager approves it.")
    else:
        ok, answer = await carry_out(request, asked, manager)
        if ok:
            try:
                await read(request, decide_request, asked.id, APPROVED, manager, answer)
                flash(request, "ok", f"The {described(asked)} is approved: {answer}")
            except ApprovalError as exc:  # a second click, answered "already accepted" by the workflow
                flash(request, "info", str(exc))
        else:
            await read(request, note_attempt, asked.id, answer)
            now = await read(request, find_request, asked.id)
            if now is not None and now.status != PENDING:  # a second click, after the first closed the order
                flash(request, "info", f"The {described(now)} is already {now.status} by {now.decided_by}.")
            else:
                flash(request, "error", f"The {described(asked)} is still pending: {answer}")
    return RedirectResponse("/approvals", 303)


@requires(Permission.APPROVE)
async def reject(request: Request) -> Response:
    reason = text(await form(request), "reason")
    if len(reason) < 3:
        flash(request, "error", "Say why it is rejected (at least 3 characters); the request stays pending.")
        return RedirectResponse("/approvals", 303)
    manager = _user(request).username
    try:
        asked = await read(
            request, decide_request, request.path_params["request_id"], REJECTED, manager, f"rejected: {reason}"
        )
    except ApprovalError as exc:
        flash(request, "error", str(exc))
    else:
        flash(request, "ok", f"The {described(asked)} is rejected; nothing was sent to the order.")
    return RedirectResponse("/approvals", 303)


def approval_queue(engine: Engine) -> QueueSize:
    return QueueSize(*pending_size(engine))


QUEUES: list[Queue] = [
    Queue("approvals", "Write-offs and refunds to approve", "/approvals", Permission.APPROVE, approval_queue)
]
routes: list[Route] = [
    Route("/approvals", approvals, name="approvals"),
    Route("/approvals/{request_id}/approve", approve, methods=["POST"]),
    Route("/approvals/{request_id}/reject", reject, methods=["POST"]),
    Route("/orders/{order_id}/write-off", write_off, methods=["GET", "POST"]),
    Route("/orders/{order_id}/refund", refund, methods=["GET", "POST"]),
]
