"""Console page: one order as its workflow's ``status`` query tells it (stage, what it waits for, totals,
invoices, disputes, promises, credit decisions, timeline), beside what the book of record holds for it
(shipments, payments, emails). An order whose workflow history is gone (closed long ago) is shown from the
database alone; one neither knows is not found."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, desc, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from models.contract import Stage, StatusView
from models.money import to_minor
from models.naming import workflow_id
from models.tables import (
    AuditEntry,
    ContactNote,
    CreditDecision,
    Customer,
    Dispute,
    EmailOutbox,
    Invoice,
    Order,
    Payment,
    Shipment,
)
from o2c.access import Permission
from o2c.client import O2CError, UnknownOrder
from o2c.platform.db import snapshot
from o2c.web.console.pages import current_user, read, render, requires, state
from o2c.web.console.queues import Queue

QUEUES: list[Queue] = []
STATUS_TIMEOUT_SECONDS = 5.0
ROWS = 200  # an order's own lists are short; this only bounds a pathological one


@dataclass
class OrderRecord:
    """What the database knows of one order."""

    order: Order
    customer_name: str
    invoices: list[Invoice]
    shipments: list[Shipment]
    payments: list[Payment]
    disputes: list[Dispute]
    decisions: list[CreditDecision]
    audit: list[AuditEntry]
    emails: list[EmailOutbox]
    promises: list[ContactNote]


def order_record(engine: Engine, order_id: str) -> OrderRecord | None:
    with snapshot(engine) as session:
        order = session.get(Order, order_id)
        if order is None:
            return None
        customer = session.get(Customer, order.customer_id)

        def rows(query: Any) -> list[Any]:
            return list(session.exec(query.limit(ROWS)).all())

        return OrderRecord(
            order=order,
            customer_name=customer.name if customer else order.customer_id,
            invoices=rows(
                select(Invoice)
                .where(Invoice.order_id == order_id)
                .order_by(col(Invoice.issued_on), col(Invoice.number))
            ),
            shipments=rows(select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.dispatched_at))),
            payments=rows(select(Payment).where(Payment.order_id == order_id).order_by(col(Payment.received_at))),
            disputes=rows(select(Dispute).where(Dispute.order_id == order_id).order_by(col(Dispute.opened_at))),
            decisions=rows(
                select(CreditDecision).where(CreditDecision.order_id == order_id).order_by(col(CreditDecision.id))
            ),
            audit=rows(select(AuditEntry).where(AuditEntry.order_id == order_id).order_by(col(AuditEntry.id))),
            emails=rows(
                select(EmailOutbox).where(EmailOutbox.order_id == order_id).order_by(desc(col(EmailOutbox.created_at)))
            ),
            promises=rows(
                select(ContactNote)
                .where(ContactNote.customer_id == order.customer_id, ContactNote.order_id == order_id)
                .where(ContactNote.kind == "promise")
                .order_by(col(ContactNote.id))
            ),
        )


@dataclass(frozen=True)
class Line:
    """A dated entry (timeline, promise), the same whether the workflow or the database told it."""

    at: datetime
    event: str
    detail: str
    by: str = ""
    refused: bool = False


def live_facts(view: StatusView) -> dict[str, Any]:
    """The ``status`` query's answer, amounts in minor units as the database holds them."""
    c = view.currency
    totals = view.totals
    return {
        "totals": [
            ("Ordered", to_minor(totals.ordered, c)),
            ("Shipped", to_minor(totals.shipped, c)),
            ("Invoiced", to_minor(totals.invoiced, c)),
            ("Paid", to_minor(totals.paid, c)),
            ("Credited", to_minor(totals.credited, c)),
            ("Written off", to_minor(totals.written_off, c)),
            ("Due", to_minor(totals.due, c)),
        ],
        "invoices": [
            {
                "number": i.number,
                "total_minor": to_minor(i.total, c),
                "open_minor": to_minor(i.open, c),
                "issued_on": i.issued_on,
                "due_date": i.due_date,
                "payment_reference": i.payment_reference,
            }
            for i in view.invoices
        ],
        "disputes": [d.model_dump() | {"amount_minor": to_minor(d.amount, c)} for d in view.disputes],
        "decisions": [
            {
                "at": d.at,
                "decision": d.decision,
                "stage": d.stage,
                "by": d.by,
                "reason": d.reason,
                "exposure_minor": to_minor(d.figures.exposure, c) if d.figures else None,
                "limit_minor": to_minor(d.figures.limit, c) if d.figures and d.figures.limit is not None else None,
                "risk_score": d.figures.risk_score if d.figures else None,
            }
            for d in view.credit_decisions
        ],
        "timeline": [Line(t.at, t.event, t.detail, refused=t.refused) for t in view.timeline],
        "promises": [Line(t.at, t.event, t.detail, refused=t.refused) for t in view.timeline if "promise" in t.event],
    }


def recorded_facts(record: OrderRecord) -> dict[str, Any]:
    """The same facts from the book of record, for an order whose workflow no longer answers."""
    invoices = record.invoices
    return {
        "totals": [
            ("Ordered", record.order.total_minor),
            ("Invoiced", sum(i.total_minor for i in invoices)),
            ("Open on invoices", sum(i.open_minor for i in invoices)),
        ],
        "invoices": [i.model_dump() for i in invoices],
        "disputes": [d.model_dump() for d in record.disputes],
        "decisions": [
            {
                "at": d.created_at,
                "decision": d.decision,
                "stage": d.stage,
                "by": d.decided_by,
                "reason": d.reason,
                "exposure_minor": d.exposure_minor,
                "limit_minor": d.limit_minor,
                "risk_score": d.risk_score,
            }
            for d in record.decisions
        ],
        "timeline": [Line(a.created_at, a.event, a.detail, a.actor) for a in record.audit],
        "promises": [],
    }


async def ask_status(request: Request, order_id: str) -> tuple[StatusView | None, str | None]:
    """The workflow's answer, or None and why not. No history (an unknown order, or one closed and gone
    past retention) is no trouble: the database may still know it."""
    try:
        return await asyncio.wait_for(state(request).client().status(order_id), STATUS_TIMEOUT_SECONDS), None
    except UnknownOrder:
        return None, None
    except (TimeoutError, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError, O2CError) as exc:
        return None, f"The order's workflow did not answer ({type(exc).__name__}): shown from the database."


@requires(Permission.VIEW)
async def order_page(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    view, trouble = await ask_status(request, order_id)
    record = await read(request, order_record, order_id)
    if view is None and record is None:
        if trouble:
            return render(request, "error.html", {"title": "Temporal did not answer", "message": trouble}, 503)
        return render(request, "error.html", {"title": "Not found", "message": f"There is no order {order_id}."}, 404)
    if view is not None:
        facts, currency, customer_id = live_facts(view), view.currency, view.customer_id
        paid = view.totals.paid > 0
    else:
        assert record is not None
        facts, currency, customer_id = recorded_facts(record), record.order.currency, record.order.customer_id
        paid = any(i.total_minor > i.open_minor for i in record.invoices)  # settled in part: paid or credited
    if record is not None:
        notes = [Line(n.created_at, "promise noted", n.note, n.actor) for n in record.promises]
        facts["promises"] = sorted(facts["promises"] + notes, key=lambda line: line.at)
    user = current_user(request)
    assert user is not None, "behind requires()"
    # Links only: the write-off and refund pages check the amount, the limit and the order themselves.
    open_order = view is not None and view.stage is not Stage.CLOSED and view.totals.due > 0
    context = facts | {
        "title": f"Order {order_id}",
        "order_id": order_id,
        "view": view,
        "record": record,
        "trouble": trouble,
        "currency": currency,
        "customer_id": customer_id,
        "namespace": state(request).client().temporal.namespace,
        "workflow_id": workflow_id(order_id),
        "may_write_off": open_order and user.may(Permission.REQUEST_WRITE_OFF),
        "may_refund": paid and user.may(Permission.REQUEST_REFUND),
    }
    return render(request, "orders/show.html", context)


routes: list[Route] = [Route("/orders/{order_id}", order_page, name="order")]
