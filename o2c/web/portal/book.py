"""What a customer may read of the book of record. Every query takes the signed-in customer's id and
filters on it: a number of someone else's invoice or credit note finds nothing."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from models.tables import ArchivedDocument, CreditNote, Customer, Invoice
from o2c.platform.db import snapshot

MAX_OPEN = 500  # open invoices shown at once; a customer with more is one for the accounts team


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def find_customer(engine: Engine, customer_id: str) -> Customer | None:
    with snapshot(engine) as session:
        return session.get(Customer, customer_id)


def open_invoices(engine: Engine, customer_id: str) -> list[Invoice]:
    """Oldest due first; ``open_minor`` is what is still owed after payments, credit notes and write-offs."""
    with snapshot(engine) as session:
        query = (
            select(Invoice)
            .where(Invoice.customer_id == customer_id, col(Invoice.open_minor) > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
            .limit(MAX_OPEN)
        )
        return list(session.exec(query).all())


def paid_invoices(engine: Engine, customer_id: str, page: int, per_page: int) -> list[Invoice]:
    """Newest first, ``per_page + 1`` rows (whether there is a next page)."""
    with snapshot(engine) as session:
        query = (
            select(Invoice)
            .where(Invoice.customer_id == customer_id, Invoice.open_minor == 0)
            .order_by(col(Invoice.issued_on).desc(), col(Invoice.number).desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
        return list(session.exec(query).all())


def credit_notes(engine: Engine, customer_id: str, page: int, per_page: int) -> list[CreditNote]:
    with snapshot(engine) as session:
        query = (
            select(CreditNote)
            .where(CreditNote.customer_id == customer_id)
            .order_by(col(CreditNote.issued_on).desc(), col(CreditNote.number).desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
        return list(session.exec(query).all())


def archived(engine: Engine, customer_id: str, number: str, extension: str) -> Download | None:
    """The archived PDF or UBL of the customer's own invoice or credit note, as issued; None otherwise."""
    with snapshot(engine) as session:
        owned: Any = (
            session.exec(
                select(Invoice.number).where(Invoice.number == number, Invoice.customer_id == customer_id)
            ).first()
            or session.exec(
                select(CreditNote.number).where(CreditNote.number == number, CreditNote.customer_id == customer_id)
            ).first()
        )
        document = session.get(ArchivedDocument, number) if owned else None
        if document is None:
            return None
        if extension == "pdf":
            return Download(f"{number}.pdf", "application/pdf", document.pdf)
        return Download(f"{number}.xml", "application/xml", document.ubl)
