"""Disputes, resolved through the order's ``resolve_dispute``; the collections worklist, overdue customers
ranked by what matters; and a customer's collections page: overdue invoices, contact history, a call note,
a promise to pay (``promise_to_pay``) and an escalation (a master change blocking credit), each noted."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, exists, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from activities.collections.contacts import CONTACT_KINDS, ContactError, record_contact
from models.money import CURRENCIES, exponent
from models.policy import DunningPolicies, DunningPolicy, DunningStep
from models.tables import ContactNote, CreditDecision, Customer, Dispute, DunningEvent, Invoice, Order
from o2c.access import Permission
from o2c.client import O2CError
from o2c.platform.db import is_postgres, snapshot
from o2c.platform.policies import load_policies
from o2c.web.console.pages import (
    Paged,
    amount_field,
    back,
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
HISTORY = 50
SORTS = dict(amount="amount overdue", days="days overdue", risk="risk score", promises="broken promises")
SORTS["contact"] = "longest without contact"
# Amounts rank by face value in their currency's major unit (no exchange rates here): 1 JPY is not 1 USD cent.
SCALE = max(exponent(code) for code in CURRENCIES)
NOT_CENTS = {code: 10 ** (SCALE - exponent(code)) for code in CURRENCIES if exponent(code) != 2}


def _today() -> date:
    return datetime.now(UTC).date()


def _since(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), UTC)


def disputes_size(engine: Engine) -> QueueSize:
    with snapshot(engine) as session:
        count, oldest = session.execute(
            sa_select(func.count(), func.min(Dispute.opened_at)).where(col(Dispute.status) == "open")
        ).one()
    return QueueSize(int(count), oldest)


def open_disputes(engine: Engine, page: int) -> Paged:
    with snapshot(engine) as session:
        rows = session.execute(
            sa_select(Dispute, col(Order.customer_id), col(Order.currency), col(Customer.name).label("customer_name"))
            .join(Order, col(Order.id) == col(Dispute.order_id))
            .join(Customer, col(Customer.id) == col(Order.customer_id))
            .where(col(Dispute.status) == "open")
            .order_by(col(Dispute.opened_at), col(Dispute.id))
            .offset((page - 1) * PER_PAGE)
            .limit(PER_PAGE + 1)
        ).all()
    return paged(rows, page, PER_PAGE)


@requires(Permission.VIEW)
async def disputes(request: Request) -> Response:
    found = await read(request, open_disputes, page_number(request))
    return render(request, "collections/disputes.html", {"paged": found})


@requires(Permission.RESOLVE_DISPUTE)
async def resolve(request: Request) -> Response:
    order_id, dispute_id = request.path_params["order_id"], request.path_params["dispute_id"]
    data = await form(request)
    try:
        fields = {"dispute_id": dispute_id, "outcome": text(data, "outcome"), "amount": amount_field(data)}
    except ValueError as exc:
        flash(request, "error", f"Dispute {dispute_id} not resolved: {exc}")
        return back(request, "/disputes")
    fields |= {"note": text(data, "note"), "request_id": text(data, "request_id")}
    outcome = await decide(request, order_id, "resolve_dispute", fields)
    if outcome.ok:
        flash(request, "ok", f"Dispute {dispute_id} on order {order_id}: {outcome.message} (order {outcome.status})")
    else:
        flash(request, "error", f"Dispute {dispute_id} not resolved: {outcome.message}")
    return back(request, "/disputes")


def _overdue(today: date) -> Any:
    return and_(col(Invoice.open_minor) > 0, col(Invoice.due_date) < today)


def overdue_size(engine: Engine) -> QueueSize:
    with snapshot(engine) as session:
        count, oldest = session.execute(
            sa_select(func.count(func.distinct(Invoice.customer_id)), func.min(Invoice.due_date)).where(
                _overdue(_today())
            )
        ).one()
    return QueueSize(int(count), _since(oldest))


QUEUES = [
    Queue("disputes", "Disputes open", "/disputes", Permission.RESOLVE_DISPUTE, disputes_size),
    Queue("collections", "Customers overdue", "/collections", Permission.COLLECT, overdue_size),
]


def _risk(customer_id: Any) -> Any:
    """The customer's newest risk score (the credit engine's, on their latest decision that has one)."""
    return (
        sa_select(col(CreditDecision.risk_score))
        .where(col(CreditDecision.customer_id) == customer_id, col(CreditDecision.risk_score).is_not(None))
        .order_by(col(CreditDecision.id).desc())
        .limit(1)
        .scalar_subquery()
    )


def _last_contact(customer: Any) -> Any:
    return sa_select(func.max(ContactNote.created_at)).where(col(ContactNote.customer_id) == customer).scalar_subquery()


def _broken_count(customer_id: Any, today: date, grace: int) -> Any:
    broken = sa_select(func.count()).where(col(ContactNote.customer_id) == customer_id, *_broken(today, grace))
    return broken.scalar_subquery()


def _broken(today: date, grace_days: int) -> list[Any]:
    """Promises to pay (noted when the console sent them) whose day and grace have passed while the order
    still has an invoice open that fell due by the promised day. The workflow keeps its own verdict on its
    timeline (``promise_broken``), which no table holds."""
    still_open = exists(
        sa_select(col(Invoice.number)).where(
            col(Invoice.order_id) == col(ContactNote.order_id),
            col(Invoice.open_minor) > 0,
            col(Invoice.due_date) <= col(ContactNote.follow_up_on),
        )
    )
    return [
        col(ContactNote.kind) == "promise",
        col(ContactNote.follow_up_on) < today - timedelta(days=grace_days),
        still_open,
    ]


def worklist(engine: Engine, page: int, sort: str, currency: str, policies: DunningPolicies) -> Paged:
    """One page of overdue customers (a row per customer and currency), aggregated by the database; the
    page's rows are ranked first, and only they get their risk, last contact and broken promises."""
    today, grace = _today(), policies.default.promise_grace_days
    overdue = (
        sa_select(
            col(Invoice.customer_id),
            col(Invoice.currency),
            func.sum(Invoice.open_minor).label("overdue_minor"),
            func.min(Invoice.due_date).label("oldest_due"),
            func.count().label("invoices"),
        )
        .where(_overdue(today), *([col(Invoice.currency) == currency] if currency else []))
        .group_by(col(Invoice.customer_id), col(Invoice.currency))
        .subquery("overdue")
    )
    major = overdue.c.overdue_minor * case(NOT_CENTS, value=overdue.c.currency, else_=10 ** (SCALE - 2))
    keys = {
        "amount": major.desc(),
        "days": overdue.c.oldest_due.asc(),
        "risk": _risk(overdue.c.customer_id).desc().nulls_last(),
        "promises": _broken_count(overdue.c.customer_id, today, grace).desc(),
        "contact": _last_contact(overdue.c.customer_id).asc().nulls_first(),
    }
    order = [keys[sort], overdue.c.customer_id, overdue.c.currency]
    ranked = (
        sa_select(overdue, func.row_number().over(order_by=order).label("rank"))
        .order_by(*order)
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE + 1)
        .subquery("ranked")
    )
    with snapshot(engine) as session:
        if is_postgres(engine):  # JIT compiling for the planner's estimate of this query costs more than running it
            session.connection().exec_driver_sql("SET LOCAL jit = off")
        rows = session.execute(
            sa_select(
                ranked,
                col(Customer.name).label("customer_name"),
                col(Customer.blocked),
                col(Customer.dunning_segment),
                _risk(ranked.c.customer_id).label("risk_score"),
                _last_contact(ranked.c.customer_id).label("last_contact"),
                _broken_count(ranked.c.customer_id, today, grace).label("broken_promises"),
            )
            .join(Customer, col(Customer.id) == ranked.c.customer_id)
            .order_by(ranked.c.rank)
        ).all()
        segments = {row.customer_id: row.dunning_segment for row in rows}
        due_days = session.execute(
            sa_select(col(Invoice.customer_id), col(Invoice.due_date))
            .where(_overdue(today), col(Invoice.customer_id).in_(segments))
            .group_by(col(Invoice.customer_id), col(Invoice.due_date))
        ).all()
    result = paged(rows, page, PER_PAGE)
    for customer_id, due in due_days:  # the soonest step of any of the customer's overdue invoices
        planned = next_step(policies.for_segment(segments[customer_id]), due, today)
        known = result.extra.get(customer_id)
        if planned is not None and (known is None or planned[0] < known[0]):
            result.extra[customer_id] = planned
    return result


def next_step(policy: DunningPolicy, due: date, today: date) -> tuple[date, DunningStep] | None:
    """The policy's next step for an invoice due on ``due``, after today (a promise or dispute may pause it)."""
    planned = ((due + timedelta(days=step.offset_days), step) for step in policy.steps)
    return next(((day, step) for day, step in planned if day > today), None)


@requires(Permission.VIEW)
async def collections(request: Request) -> Response:
    sort = request.query_params.get("sort", "amount")
    sort = sort if sort in SORTS else "amount"
    currency = request.query_params.get("currency", "").upper()
    currency = currency if currency in CURRENCIES else ""
    policies = load_policies(state(request).settings)
    rows = await read(request, worklist, page_number(request), sort, currency, policies)
    context = {"paged": rows, "sort": sort, "sorts": SORTS, "currency": currency}
    return render(request, "collections/worklist.html", context)


def customer_page(engine: Engine, customer_id: str, page: int, policies: DunningPolicies) -> dict[str, Any] | None:
    """The customer's open invoices (overdue first) with the dunning steps taken and planned, their risk,
    what is overdue per currency, and the newest notes of the contact history."""
    today = _today()
    with snapshot(engine) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        invoices = session.exec(
            select(Invoice)
            .where(col(Invoice.customer_id) == customer_id, col(Invoice.open_minor) > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
            .offset((page - 1) * PER_PAGE)
            .limit(PER_PAGE + 1)
        ).all()
        steps_taken = session.exec(
            select(DunningEvent)
            .where(col(DunningEvent.invoice_number).in_([invoice.number for invoice in invoices]))
            .order_by(col(DunningEvent.level), col(DunningEvent.id))
        ).all()
        notes = session.exec(
            select(ContactNote)
            .where(col(ContactNote.customer_id) == customer_id)
            .order_by(col(ContactNote.created_at).desc(), col(ContactNote.id).desc())
            .limit(HISTORY)
        ).all()
        risk = session.execute(sa_select(_risk(customer_id))).scalar()
        grace = policies.default.promise_grace_days
        mine = col(ContactNote.customer_id) == customer_id
        broken = set(session.execute(sa_select(col(ContactNote.note_id)).where(mine, *_broken(today, grace))).scalars())
        totals = session.execute(
            sa_select(col(Invoice.currency), func.sum(Invoice.open_minor), func.count())
            .where(col(Invoice.customer_id) == customer_id, _overdue(today))
            .group_by(col(Invoice.currency))
        ).all()
    policy = policies.for_segment(customer.dunning_segment)
    return {
        "customer": customer,
        "paged": paged(invoices, page, PER_PAGE),
        "last_step": {event.invoice_number: event for event in steps_taken},
        "next_steps": {invoice.number: next_step(policy, invoice.due_date, today) for invoice in invoices},
        "notes": notes,
        "broken": broken,
        "risk_score": risk,
        "totals": totals,
        "orders": list(dict.fromkeys(invoice.order_id for invoice in invoices)),
        "kinds": CONTACT_KINDS,
    }


@requires(Permission.VIEW)
async def customer(request: Request) -> Response:
    policies = load_policies(state(request).settings)
    context = await read(request, customer_page, request.path_params["customer_id"], page_number(request), policies)
    if context is None:
        return render(request, "error.html", {"title": "Not found", "message": "There is no such customer."}, 404)
    return render(request, "collections/customer.html", context)


async def _note(request: Request, customer_id: str, kind: str, note: str, **details: Any) -> bool:
    """The contact history's note beside a decision (or alone), keyed by the form's request id."""
    user = current_user(request)
    assert user is not None
    note_id = text(await form(request), "request_id")
    try:
        await run_in_threadpool(
            record_contact, state(request).engine, note_id, customer_id, kind, note, user.username, **details
        )
    except ContactError as exc:
        flash(request, "error", f"Not noted: {exc}")
        return False
    return True


def _refused(request: Request, customer_id: str, message: str) -> Response:
    flash(request, "error", message)
    return back(request, f"/collections/{customer_id}")


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@requires(Permission.COLLECT)
async def contact(request: Request) -> Response:
    customer_id, data = request.path_params["customer_id"], await form(request)
    kind, follow_up = text(data, "kind"), _day(text(data, "follow_up_on"))
    if text(data, "follow_up_on") and follow_up is None:
        return _refused(request, customer_id, "Not noted: the follow-up date is not a date (YYYY-MM-DD)")
    if await _note(
        request,
        customer_id,
        kind,
        text(data, "note"),
        outcome=text(data, "outcome"),
        follow_up_on=follow_up,
    ):
        flash(request, "ok", f"{kind.capitalize()} noted")
    return back(request, f"/collections/{customer_id}")


def _customer_of(engine: Engine, order_id: str) -> str | None:
    with snapshot(engine) as session:
        order = session.get(Order, order_id)
        return None if order is None else order.customer_id


@requires(Permission.COLLECT)
async def promise(request: Request) -> Response:
    customer_id, data = request.path_params["customer_id"], await form(request)
    order_id, promised, note = text(data, "order_id"), text(data, "promised_date"), text(data, "note")
    try:
        amount = amount_field(data)
    except ValueError as exc:
        return _refused(request, customer_id, f"Promise not recorded: {exc}")
    if await read(request, _customer_of, order_id) != customer_id:
        return _refused(request, customer_id, f"Promise not recorded: {order_id} is not an order of {customer_id}")
    fields = {"promised_date": promised, "amount": amount, "note": note, "request_id": text(data, "request_id")}
    outcome = await decide(request, order_id, "promise_to_pay", fields)
    if not outcome.ok:
        return _refused(request, customer_id, f"Promise not recorded: {outcome.message}")
    said, day = f"{amount} by {promised}", _day(promised)
    details = {"outcome": said, "order_id": order_id, "follow_up_on": day}
    if await _note(request, customer_id, "promise", note or f"promised to pay {said}", **details):
        flash(request, "ok", f"Promise to pay on order {order_id}: {outcome.message} (order {outcome.status})")
    return back(request, f"/collections/{customer_id}")


@requires(Permission.COLLECT)
async def escalate(request: Request) -> Response:
    """The customer master change blocking further credit, with the signed-in user as its ``by``."""
    customer_id, data, user = request.path_params["customer_id"], await form(request), current_user(request)
    assert user is not None
    reason = text(data, "reason")
    change = {"customer_id": customer_id, "by": user.username, "reason": reason, "blocked": True}
    try:
        changed = await state(request).client().change_customer(change | {"change_id": text(data, "request_id")})
    except O2CError as exc:
        return _refused(request, customer_id, f"Not escalated: {exc}")
    blocked = "credit blocked" if changed.changes else "credit was blocked already"
    if await _note(request, customer_id, "escalation", reason, outcome=blocked):
        flash(request, "ok", f"Escalated: {blocked} for {customer_id} (change {changed.change_id})")
    return back(request, f"/collections/{customer_id}")


routes = [
    Route("/disputes", disputes, name="disputes"),
    Route("/disputes/{order_id}/{dispute_id}/resolve", resolve, methods=["POST"], name="resolve_dispute"),
    Route("/collections", collections, name="collections"),
    Route("/collections/{customer_id}", customer, name="collections_customer"),
    Route("/collections/{customer_id}/contact", contact, methods=["POST"], name="collections_contact"),
    Route("/collections/{customer_id}/promise", promise, methods=["POST"], name="collections_promise"),
    Route("/collections/{customer_id}/escalate", escalate, methods=["POST"], name="collections_escalate"),
]
