"""What the ``status`` query answers: the order's totals, invoices, disputes and timeline, in its currency."""

from datetime import date
from decimal import Decimal

from models.contract import DisputeView, InvoiceView, OrderStatus, StatusView, Totals
from models.money import from_minor, round_money
from workflows.order.book import OrderBook


def totals(book: OrderBook) -> Totals:
    def money(minor: int) -> Decimal:
        return from_minor(minor, book.currency)

    shipped_net = sum((line.unit_price * book.shipped.get(line.sku, 0) for line in book.order.lines), Decimal(0))
    return Totals(
        ordered=money(book.order_total_minor),
        shipped=round_money(shipped_net, book.currency),
        invoiced=money(book.invoiced_minor),
        paid=money(book.paid_minor),
        credited=money(book.credited_minor),
        written_off=money(book.written_off_minor),
        due=money(book.amount_due_minor),
    )


def status_view(book: OrderBook, today: date, waiting_for: str) -> StatusView:
    return StatusView(
        order_id=book.order.order_id,
        customer_id=book.order.customer.id,
        currency=book.currency,
        stage=book.stage,
        status=book.current_status(today),
        waiting_for=waiting_for,
        totals=totals(book),
        due_date=book.due_date,
        dunning_level=book.dunning_level,
        credit_decision=book.credit_decision,
        credit_decisions=list(book.credit_decisions),
        holds=["credit"] if book.status is OrderStatus.CREDIT_HOLD else [],
        disputes=[
            DisputeView(
                dispute_id=d.dispute_id,
                amount=from_minor(d.amount_minor, book.currency),
                reason=d.reason,
                opened_by=d.opened_by,
                status=d.status,
            )
            for d in book.disputes.values()
        ],
        invoices=[
            InvoiceView(
                number=i.number,
                total=from_minor(i.issued.total_minor, book.currency),
                open=from_minor(i.open_minor, book.currency),
                issued_on=i.issued.issued_on,
                due_date=i.issued.due_date,
                payment_reference=i.issued.payment_reference,
            )
            for i in book.invoices.values()
        ],
        shipped=dict(book.shipped),
        timeline=list(book.timeline),
    )
