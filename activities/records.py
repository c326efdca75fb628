"""What every stage reads and writes alike: an order by its id, and the audit trail."""

from datetime import UTC, datetime

from sqlmodel import Session

from activities.context import business_error
from models.activity_io import ErrorType
from models.tables import AuditEntry, Order
from o2c.platform.db import insert_new


def audit(session: Session, dedupe_key: str, order_id: str | None, event: str, actor: str, detail: str) -> None:
    """One entry per dedupe key: a retried step's second entry is dropped by the database (one statement,
    where reading first and adding through the unit of work cost a query and a flush)."""
    row = {
        "dedupe_key": dedupe_key,
        "order_id": order_id,
        "event": event,
        "actor": actor,
        "detail": detail[:4000],
        "created_at": datetime.now(UTC),
    }
    insert_new(session, AuditEntry, [row], ["dedupe_key"])


def load_order(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise business_error(ErrorType.UNKNOWN_ORDER, f"order {order_id} is not in the database")
    return order
