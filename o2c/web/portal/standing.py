"""Where a customer's invoices stand after they talked to us: the disputes open on their orders (the
``disputes`` table the worker writes once the workflow accepted one) and the promises to pay they made
(the contact notes of kind ``promise``, as the console's collections page writes them). Every query
filters on the signed-in customer, so another customer's invoice finds nothing."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from models.tables import ContactNote, Dispute, Invoice, InvoiceLine
from o2c.platform.db import snapshot

MAX_LINES = 200  # an invoice with more is one for the accounts team
MAX_PROMISES = 5


def today() -> date:
    """Today as the workflows count days (UTC): a promise for today is not in the past to either."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Standing:
    """What the customer sees beside an invoice: its order's disputes and the latest promise still to come."""

    disputes: list[Dispute] = field(default_factory=list)
    promised_on: date | None = None

    @property
    def open_disputes(self) -> list[Dispute]:
        return [d for d in self.disputes if d.status == "open"]


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: Invoice
    lines: list[InvoiceLine]
    standing: Standing
    promises: list[ContactNote]


def own_invoice(engine: Engine, customer_id: str, number: str) -> Invoice | None:
    with snapshot(engine) as session:
        query = select(Invoice).where(Invoice.number == number, Invoice.customer_id == customer_id)
        return session.exec(query).first()


def standings(engine: Engine, customer_id: str, order_ids: list[str], today: date) -> dict[str, Standing]:
    """Each order's standing, for the orders of the customer's open invoices (at most a page of them)."""
    if not order_ids:
        return {}
    with snapshot(engine) as session:
        disputes = session.exec(
            select(Dispute).where(col(Dispute.order_id).in_(order_ids)).order_by(col(Dispute.opened_at))
        ).all()
        promises = session.exec(
            select(col(ContactNote.order_id), col(ContactNote.follow_up_on))
            .where(
                ContactNote.customer_id == customer_id,
                ContactNote.kind == "promise",
                col(ContactNote.order_id).in_(order_ids),
                col(ContactNote.follow_up_on) >= today,
            )
            .order_by(col(ContactNote.created_at))
        ).all()
    found: dict[str, list[Dispute]] = {}
    for dispute in disputes:
        found.setdefault(dispute.order_id, []).append(dispute)
    promised = {order_id: day for order_id, day in promises if order_id is not None}  # the latest wins
    return {o: Standing(found.get(o, []), promised.get(o)) for o in order_ids}


def invoice_detail(engine: Engine, customer_id: str, number: str, today: date) -> InvoiceDetail | None:
    """The customer's own invoice with its lines and where it stands; None for anyone else's."""
    invoice = own_invoice(engine, customer_id, number)
    if invoice is None:
        return None
    with snapshot(engine) as session:
        lines = session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_number == number)
            .order_by(col(InvoiceLine.line_no))
            .limit(MAX_LINES)
        ).all()
        promises = session.exec(
            select(ContactNote)
            .where(
                ContactNote.customer_id == customer_id,
                ContactNote.kind == "promise",
                ContactNote.order_id == invoice.order_id,
            )
            .order_by(col(ContactNote.created_at).desc())
            .limit(MAX_PROMISES)
        ).all()
    standing = standings(engine, customer_id, [invoice.order_id], today)[invoice.order_id]
    return InvoiceDetail(invoice, list(lines), standing, list(promises))
