"""Write-offs and refunds above their requester's limit, waiting for a finance manager.

These functions keep the bookkeeping of a request (who asked, who decided, what the workflow answered). The
decision itself is the workflow's: the console sends it with the request's id as its idempotency key, then
records the answer here."""

from datetime import UTC, datetime

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from models.tables import ApprovalRequest
from o2c.access.limits import ACTIONS
from o2c.platform.db import insert_new, transaction

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


class ApprovalError(ValueError):
    """A request that cannot be made or decided as asked; the message says why."""


def request_approval(
    engine: Engine,
    kind: str,
    order_id: str,
    customer_id: str,
    amount_minor: int,
    currency: str,
    reason: str,
    requested_by: str,
    request_id: str,
    invoice_number: str | None = None,
) -> ApprovalRequest:
    """Files a request under ``request_id``; the same id again (a form posted twice) answers the first one."""
    if kind not in ACTIONS:
        raise ApprovalError(f"unknown kind {kind}; approvals exist for {', '.join(ACTIONS)}")
    if amount_minor <= 0:
        raise ApprovalError("an approval is for an amount above zero")
    if kind == "refund" and not invoice_number:
        raise ApprovalError("a refund names the invoice it credits")
    row = {
        "id": request_id,
        "kind": kind,
        "order_id": order_id,
        "customer_id": customer_id,
        "invoice_number": invoice_number,
        "amount_minor": amount_minor,
        "currency": currency,
        "reason": reason[:2000],
        "requested_by": requested_by,
        "status": PENDING,
        "created_at": datetime.now(UTC),
    }
    with transaction(engine) as session:
        insert_new(session, ApprovalRequest, [row], ["id"])
        filed = session.get(ApprovalRequest, request_id)
        assert filed is not None
        return filed


def find_request(engine: Engine, request_id: str) -> ApprovalRequest | None:
    with Session(engine) as session:
        return session.get(ApprovalRequest, request_id)


def pending(engine: Engine, page: int, per_page: int) -> list[ApprovalRequest]:
    """One page of pending requests, oldest first (``per_page + 1`` rows: the extra one says a next page exists)."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(ApprovalRequest)
                .where(ApprovalRequest.status == PENDING)
                .order_by(col(ApprovalRequest.created_at), col(ApprovalRequest.id))
                .offset((page - 1) * per_page)
                .limit(per_page + 1)
            ).all()
        )


def pending_for_order(engine: Engine, order_id: str) -> list[ApprovalRequest]:
    """What already waits for a manager on this order, so nobody asks twice."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(ApprovalRequest)
                .where(ApprovalRequest.order_id == order_id, ApprovalRequest.status == PENDING)
                .order_by(col(ApprovalRequest.created_at))
            ).all()
        )


def pending_size(engine: Engine) -> tuple[int, datetime | None]:
    """How many requests wait, and since when the oldest has."""
    with Session(engine) as session:
        count, oldest = session.exec(
            select(func.count(), func.min(ApprovalRequest.created_at)).where(ApprovalRequest.status == PENDING)
        ).one()
    return int(count), oldest.replace(tzinfo=oldest.tzinfo or UTC) if oldest else None


def decide_request(engine: Engine, request_id: str, status: str, decided_by: str, outcome: str) -> ApprovalRequest:
    """Closes a pending request as approved or rejected. Only a pending request is decided, once (two
    managers or a double click: the second is told who decided first); nobody approves their own."""
    if status not in (APPROVED, REJECTED):
        raise ApprovalError(f"a request is decided as {APPROVED} or {REJECTED}, not {status}")
    with transaction(engine) as session:
        request = session.get(ApprovalRequest, request_id)
        if request is None:
            raise ApprovalError(f"there is no approval request {request_id}")
        if status == APPROVED and request.requested_by.casefold() == decided_by.casefold():
            raise ApprovalError("a request is approved by someone other than the person who made it")
        closed = session.execute(
            update(ApprovalRequest)
            .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.status) == PENDING)
            .values(status=status, decided_by=decided_by, outcome=outcome, decided_at=datetime.now(UTC))
        )
        session.expire(request)
        session.refresh(request)
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            raise ApprovalError(f"request {request_id} is already {request.status} by {request.decided_by}")
        return request


def note_attempt(engine: Engine, request_id: str, outcome: str) -> None:
    """What the workflow answered to an approval it refused: the request stays pending, with the reason."""
    with transaction(engine) as session:
        session.execute(
            update(ApprovalRequest)
            .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.status) == PENDING)
            .values(outcome=outcome)
        )
