"""What an email template is filled with: the order's, its invoice's and its customer's facts."""

from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.documents.archive import pay_online_link
from activities.records import load_order
from models.money import format_money
from models.tables import Customer, Invoice
from o2c.platform.config import Settings


def order_facts(
    session: Session, settings: Settings, order_id: str, invoice_number: str | None, note: str
) -> dict[str, str]:
    """The order's and its customer's facts; with an invoice, its open amount, due date and reference, and
    for a bank-transfer invoice still open a link to pay it by card."""
    order = load_order(session, order_id)
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    facts = {
        "order_id": order.id,
        "customer_id": customer.id,
        "customer_name": customer.name,
        "customer_email": customer.invoice_email,
        "amount": format_money(order.total_minor, order.currency),
        "note": note,
        "invoice_number": "",
        "due_date": "",
        "payment_reference": "",
        "pay_online": "",
    }
    if invoice_number:
        invoice = session.get(Invoice, invoice_number)
        assert invoice is not None
        facts |= {
            "invoice_number": invoice.number,
            "amount": format_money(invoice.open_minor, invoice.currency),
            "due_date": invoice.due_date.isoformat(),
            "payment_reference": invoice.payment_reference,
        }
        link = pay_online_link(settings, order, invoice)
        if link and invoice.open_minor > 0:
            facts["pay_online"] = f"\n\nOr pay online by card: {link}"
    return facts


def customer_facts(session: Session, customer_id: str, note: str) -> dict[str, str]:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ApplicationError(f"customer {customer_id} is not in the master", non_retryable=True)
    return {
        "customer_id": customer.id,
        "customer_name": customer.name,
        "customer_email": customer.invoice_email,
        "note": note,
    }
