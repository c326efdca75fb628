"""Rows written straight into the book of record, for tests of activities on their own."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from models.tables import Customer, Invoice, Order, OrderLine, Payment, PaymentApplication, Shipment, ShipmentLine
from o2c.platform.db import transaction
from tests.support import Database


def add_customer(db: Database, limit_minor: int | None = 100_00, **fields: Any) -> str:
    with transaction(db.engine) as session:
        values: dict[str, Any] = {"id": "C1", "name": "Initech", "email": "ap@initech.example", "currency": "USD"}
        session.add(Customer(**(values | fields), credit_limit_minor=limit_minor, created_at=datetime.now(UTC)))
    return "C1"


def add_order(db: Database, order_id: str, total_minor: int, reserved_minor: int = 0, currency: str = "USD") -> str:
    with transaction(db.engine) as session:
        session.add(
            Order(
                id=order_id,
                customer_id="C1",
                currency=currency,
                total_minor=total_minor,
                credit_reserved_minor=reserved_minor,
                status="PENDING",
                payment_method="bank_transfer",
                net_days=30,
                end_of_month=False,
                discount_percent="0",
                discount_days=0,
                invoicing="on_completion",
                fingerprint="x",
                placed_at=datetime.now(UTC),
            )
        )
    return order_id


def add_invoice(
    db: Database, number: str, order_id: str, total_minor: int, due: date, paid_on: date | None = None
) -> None:
    with transaction(db.engine) as session:
        session.add(
            Invoice(
                number=number,
                order_id=order_id,
                customer_id="C1",
                invoice_key=number,
                currency="USD",
                net_minor=total_minor,
                tax_minor=0,
                total_minor=total_minor,
                open_minor=0 if paid_on else total_minor,
                issued_on=due - timedelta(days=30),
                due_date=due,
                payment_reference=f"RF-{number}",
                status="paid" if paid_on else "open",
                created_at=datetime.now(UTC),
            )
        )
        if paid_on:
            session.flush()
            at = datetime(paid_on.year, paid_on.month, paid_on.day, 12, tzinfo=UTC)
            session.add(
                Payment(
                    id=f"P-{number}",
                    customer_id="C1",
                    amount_minor=total_minor,
                    unapplied_minor=0,
                    currency="USD",
                    method="bank_transfer",
                    received_at=at,
                )
            )
            session.flush()
            session.add(
                PaymentApplication(
                    payment_id=f"P-{number}", invoice_number=number, amount_minor=total_minor, applied_at=at
                )
            )


def add_shipped_order(
    db: Database, order_id: str, lines: list[tuple[str, int, str, str]], currency: str = "USD"
) -> None:
    """An approved order whose lines (sku, quantity, unit price, tax %) all shipped in one shipment "S1"."""
    add_order(db, order_id, 0, currency=currency)
    with transaction(db.engine) as session:
        for n, (sku, quantity, price, tax) in enumerate(lines, start=1):
            session.add(
                OrderLine(
                    order_id=order_id,
                    line_no=n,
                    sku=sku,
                    description=f"{sku} item",
                    quantity=quantity,
                    unit_price=price,
                    tax_rate_percent=tax,
                    discount_percent="0",
                )
            )
        shipment = Shipment(
            order_id=order_id,
            shipment_id="S1",
            carrier="DHL",
            tracking_number=f"TRK-{order_id}",
            dispatched_at=datetime.now(UTC),
        )
        session.add(shipment)
        session.flush()
        assert shipment.id is not None
        for sku, quantity, _, _ in lines:
            session.add(ShipmentLine(shipment_row_id=shipment.id, sku=sku, quantity=quantity))
