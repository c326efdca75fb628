"""A customer's credit exposure, read in one statement, and the lock that makes credit work per customer
go one at a time."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, select

from models.tables import Customer, Invoice, Order
from o2c.platform.db import is_postgres


@dataclass(frozen=True)
class Exposure:
    open_receivables_minor: int
    others_open_minor: int
    reserved_elsewhere_minor: int
    overdue_invoices: int


def customer_exposure(
    session: Session, customer_id: str, currency: str, order_id: str, overdue_before: date
) -> Exposure:
    """One statement: the four figures as scalar subqueries (four round trips before, each in the
    credit check's hold on the database's write lock)."""

    def total(column: Any, *where: Any) -> Any:
        return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()

    mine = (Invoice.customer_id == customer_id, Invoice.currency == currency)
    overdue = (
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.open_minor > 0, Invoice.due_date < overdue_before)
        .scalar_subquery()
    )
    open_all, open_others, reserved, overdue_count = session.exec(
        select(
            total(Invoice.open_minor, *mine),
            total(Invoice.open_minor, *mine, Invoice.order_id != order_id),
            total(
                Order.credit_reserved_minor,
                Order.customer_id == customer_id,
                Order.currency == currency,
                Order.id != order_id,
            ),
            overdue,
        )
    ).one()
    return Exposure(int(open_all), int(open_others), int(reserved), int(overdue_count))


def lock_customer(session: Session, engine: Engine, customer_id: str) -> Customer:
    """Serializes credit work per customer: a row lock on PostgreSQL; on SQLite the transaction's
    ``BEGIN IMMEDIATE`` already holds the database's write lock, and the row this transaction loaded
    already is current (no second query).

    PostgreSQL: ``FOR NO KEY UPDATE``, not ``FOR UPDATE``. record_order inserts the order first, and its
    foreign key takes a key-share lock on the customer's row, which ``FOR UPDATE`` waits for: two orders
    of one customer each held the key share the other's ``FOR UPDATE`` waited for (a deadlock)."""
    if not is_postgres(engine):
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NoResultFound(f"no customer {customer_id}")
        return customer
    return session.exec(select(Customer).where(Customer.id == customer_id).with_for_update(key_share=True)).one()
