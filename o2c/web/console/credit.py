"""Credit holds: the orders the credit engine held for finance, each with the figures it was held on, and the
hold's expiry as the workflow computes it. Approving or rejecting sends the workflow's own update."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.activity_io import CreditAssessment, RiskScore
from models.contract import OrderStatus
from models.tables import AuditEntry, CreditDecision, Customer, EmailOutbox, Order
from o2c.access import Permission
from o2c.platform.config import Settings
from o2c.platform.policies import load_order_policy
from o2c.web.console.pages import back, decide, flash, form, page_number, paged, read, render, requires, state, text
from o2c.web.console.queues import Queue, QueueSize
from workflows.order.schedule import CreditHold

PER_PAGE = 20
HELD = OrderStatus.CREDIT_HOLD.value
# What the workflow records when it puts an order on hold, and the email it sends before its clock starts
# (workflows/order/credit.py, hold_for_finance): "{order}:credit_hold{round}" and "{order}:credit-hold{round}".
HOLD_EVENT = "credit_hold"
HOLD_EMAIL = "credit-hold"


@dataclass(frozen=True)
class Hold:
    """One held order as finance reads it."""

    order: Order
    customer_name: str
    held_since: datetime
    expires: datetime
    decision: CreditDecision | None  # the engine's hold, with its figures
    reasons: list[str]
    risk: RiskScore | None

    @property
    def time_left(self) -> str:
        left = self.expires - datetime.now(UTC)
        if left.total_seconds() <= 0:
            return "expiring now"
        hours = int(left.total_seconds() // 3600)
        return (
            f"in {hours // 24} day(s) {hours % 24} h" if hours >= 24 else f"in {hours} h {left.seconds // 60 % 60} min"
        )


def utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; every one we write is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _held_since() -> Any:
    """When the order's current hold began: its newest hold event (audit_log is indexed by order)."""
    return (
        select(func.max(AuditEntry.created_at))
        .where(col(AuditEntry.order_id) == col(Order.id), col(AuditEntry.event) == HOLD_EVENT)
        .correlate(Order)
        .scalar_subquery()
    )


def hold_queue(engine: Engine) -> QueueSize:
    held = select(col(Order.id), _held_since().label("since")).where(col(Order.status) == HELD).subquery()
    with Session(engine) as session:
        count, oldest = session.exec(select(func.count(), func.min(held.c.since))).one()
    return QueueSize(int(count), utc(oldest) if oldest else None)


def holds(engine: Engine, settings: Settings, page: int, per_page: int) -> list[Hold]:
    """One page of held orders, the longest held first (the first to expire), ``per_page + 1`` rows."""
    since = _held_since().label("held_since")
    with Session(engine) as session:
        rows = session.exec(
            select(Order, since)
            .where(col(Order.status) == HELD)
            .order_by(since, col(Order.id))
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        ).all()
        ids = [order.id for order, _ in rows]
        # Names by key for this page alone: joined before the sort, the planner reads every customer.
        customer_ids = {order.customer_id for order, _ in rows}
        names = dict(session.exec(select(Customer.id, Customer.name).where(col(Customer.id).in_(customer_ids))).all())
        clocks = _clock_starts(session, ids)
        decisions: dict[str, CreditDecision] = {}
        for row in session.exec(
            select(CreditDecision).where(col(CreditDecision.order_id).in_(ids)).order_by(col(CreditDecision.id).desc())
        ):
            decisions.setdefault(row.order_id, row)
    expiry = load_order_policy(settings)
    found = []
    for order, held_since in rows:
        decision = decisions.get(order.id)
        assessment = _assessment(decision)
        reason = assessment.reason if assessment else decision.reason if decision else ""
        start = clocks.get(order.id) or utc(held_since)
        found.append(
            Hold(
                order=order,
                customer_name=names.get(order.customer_id, order.customer_id),
                held_since=utc(held_since),
                expires=CreditHold.starting(start, expiry).expires,
                decision=decision,
                reasons=[part for part in reason.split("; ") if part],
                risk=assessment.figures.risk if assessment and assessment.figures else None,
            )
        )
    return found


def _clock_starts(session: Session, order_ids: list[str]) -> dict[str, datetime]:
    """When each current hold's clock started: the workflow starts it once the hold email is out, so the
    email's sending time where it went (else the hold event's time is the best we know)."""
    newest: dict[str, tuple[datetime, str]] = {}
    for order_id, key, at in session.exec(
        select(AuditEntry.order_id, AuditEntry.dedupe_key, AuditEntry.created_at).where(
            col(AuditEntry.order_id).in_(order_ids), col(AuditEntry.event) == HOLD_EVENT
        )
    ):
        if order_id is not None and (order_id not in newest or newest[order_id][0] < at):
            newest[order_id] = (at, key)
    emails = {
        f"{order_id}:{HOLD_EMAIL}{key.removeprefix(f'{order_id}:{HOLD_EVENT}')}": order_id
        for order_id, (_, key) in newest.items()
    }
    sent = session.exec(
        select(EmailOutbox.key, EmailOutbox.sent_at).where(
            col(EmailOutbox.key).in_(list(emails)), col(EmailOutbox.sent_at).is_not(None)
        )
    ).all()
    return {emails[key]: utc(at) for key, at in sent if at is not None}


def _assessment(decision: CreditDecision | None) -> CreditAssessment | None:
    if decision is None or not decision.assessment:
        return None
    return CreditAssessment.model_validate_json(decision.assessment)


@requires(Permission.VIEW)
async def credit_holds(request: Request) -> Response:
    page = page_number(request)
    rows = await read(request, holds, state(request).settings, page, PER_PAGE)
    return render(request, "credit/holds.html", {"title": "Credit holds", "holds": paged(rows, page, PER_PAGE)})


@requires(Permission.DECIDE_CREDIT)
async def approve(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    data = await form(request)
    outcome = await decide(
        request, order_id, "approve_credit", {"note": text(data, "note"), "request_id": text(data, "request_id")}
    )
    flash(request, "ok" if outcome.ok else "error", f"Order {order_id}: {outcome.message}")
    return back(request, "/credit-holds")


@requires(Permission.DECIDE_CREDIT)
async def reject(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    data = await form(request)
    reason = text(data, "reason")
    if not reason:
        flash(request, "error", f"Order {order_id}: a rejection needs a reason; the order stays on hold.")
        return back(request, "/credit-holds")
    outcome = await decide(
        request, order_id, "reject_credit", {"reason": reason, "request_id": text(data, "request_id")}
    )
    flash(request, "ok" if outcome.ok else "error", f"Order {order_id}: {outcome.message}")
    return back(request, "/credit-holds")


QUEUES: list[Queue] = [Queue("credit-holds", "Credit holds", "/credit-holds", Permission.DECIDE_CREDIT, hold_queue)]
routes: list[Route] = [
    Route("/credit-holds", credit_holds, name="credit_holds"),
    Route("/credit-holds/{order_id}/approve", approve, methods=["POST"]),
    Route("/credit-holds/{order_id}/reject", reject, methods=["POST"]),
]
