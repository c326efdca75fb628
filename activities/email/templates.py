"""Email wording, one function per kind of email. Plain text and a minimal HTML twin."""

import unicodedata
from dataclasses import dataclass, field
from html import escape
from string import Formatter


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    template: str = ""
    data: dict[str, str] = field(default_factory=dict)

    @property
    def html(self) -> str:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in self.text.split("\n\n"))
        return f"<html><body>{paragraphs}</body></html>"


def header_text(value: str) -> str:
    """``value`` made fit for a mail header, one line: control and format characters (Unicode C*: CR, LF,
    tab, NUL, bidi overrides) and the line and paragraph separators become spaces, runs of spaces one.

    Customer names reach subjects; one with a line break in it would end the subject and start a header
    of its own (``Bcc: ...``) wherever the message is written out."""
    spaced = "".join(
        " " if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") else c for c in value
    )
    return " ".join(spaced.split())


def render(template: str, facts: dict[str, str]) -> Rendered:
    try:
        subject, body = _TEMPLATES[template]
    except KeyError as exc:
        raise ValueError(f"no email template named {template!r}") from exc
    # A fact that goes into some subject is one line in every email: in our text, and in the template data
    # that a SendGrid template may put in its own subject.
    facts = facts | {name: header_text(value) for name, value in facts.items() if name in _SUBJECT_FACTS}
    return Rendered(subject=subject.format(**facts), text=body.format(**facts), template=template, data=facts)


_SIGNATURE = "\n\nQuestions about this email? Reply to it and our accounts team will answer."

_TEMPLATES: dict[str, tuple[str, str]] = {
    "invoice": (
        "Invoice {invoice_number} for order {order_id}",
        "Hello {customer_name},\n\nplease find attached invoice {invoice_number} for order {order_id}: "
        "{amount} due on {due_date}.\n\nPay by bank transfer quoting the reference {payment_reference}."
        "{pay_online}" + _SIGNATURE,
    ),
    "invoice_copy": (
        "Copy of invoice {invoice_number} for order {order_id}",
        "Hello {customer_name},\n\nas requested, a copy of invoice {invoice_number} for order {order_id} is "
        "attached. Still open: {amount}, due on {due_date}.\n\nPay by bank transfer quoting the reference "
        "{payment_reference}.{pay_online}" + _SIGNATURE,
    ),
    "credit_note": (
        "Credit note {document_number} for invoice {invoice_number}",
        "Hello {customer_name},\n\nwe have issued credit note {document_number} over {amount} against invoice "
        "{invoice_number} of order {order_id}: {note}. It is attached and already deducted from what you owe."
        + _SIGNATURE,
    ),
    "statement": (
        "Statement of account for {customer_name} on {statement_date}",
        "Hello {customer_name},\n\nyour open invoices with us on {statement_date}:\n\n{statement_lines}\n\n"
        "Total open: {statement_total}. The same list is attached as a CSV file." + _SIGNATURE,
    ),
    "pre_due": (
        "Reminder: invoice {invoice_number} is due on {due_date}",
        "Hello {customer_name},\n\na friendly reminder that {amount} on invoice {invoice_number} is due on "
        "{due_date}. If you have already paid, thank you and please ignore this email.\n\n"
        "Reference: {payment_reference}{pay_online}" + _SIGNATURE,
    ),
    "overdue": (
        "Invoice {invoice_number} is overdue",
        "Hello {customer_name},\n\ninvoice {invoice_number} was due on {due_date} and {amount} is still open. "
        "Please pay quoting the reference {payment_reference}, or tell us if something is wrong with it."
        "{pay_online}" + _SIGNATURE,
    ),
    "final_notice": (
        "Final notice: invoice {invoice_number}",
        "Hello {customer_name},\n\ndespite our reminders, {amount} on invoice {invoice_number} (due "
        "{due_date}) is still open. Unless we receive payment, the matter will be passed to our collections "
        "team.\n\nReference: {payment_reference}" + _SIGNATURE,
    ),
    "escalation": (
        "Escalation: order {order_id}, invoice {invoice_number}",
        "Collections team,\n\ninvoice {invoice_number} of order {order_id} ({amount}, due {due_date}) has "
        "passed the final notice. Please contact the customer; the order can be written off with the "
        "write_off decision once collection has failed.",
    ),
    "credit_hold": (
        "Credit hold: order {order_id}",
        "Finance team,\n\norder {order_id} ({amount}) of customer {customer_id} is on credit hold.\n\n{note}"
        "\n\nApprove or reject it with `o2c finance approve-credit {order_id} --by <you>` or "
        "`o2c finance reject-credit {order_id} --by <you> --reason <why>` (the approve_credit and reject_credit "
        "decisions on workflow order-{order_id}).",
    ),
    "credit_hold_reminder": (
        "Still waiting: credit hold on order {order_id}",
        "Finance team,\n\norder {order_id} ({amount}) is still on credit hold: {note}. It is cancelled "
        "automatically if nobody decides.",
    ),
    "order_rejected": (
        "Your order {order_id}",
        "Hello {customer_name},\n\nwe are sorry: we cannot accept order {order_id} on credit terms. {note}"
        + _SIGNATURE,
    ),
    "order_cancelled": (
        "Order {order_id} cancelled",
        "Hello {customer_name},\n\norder {order_id} has been cancelled: {note}" + _SIGNATURE,
    ),
    "order_rest_cancelled": (
        "Order {order_id}: items not yet shipped are cancelled",
        "Hello {customer_name},\n\nwe cannot extend further credit on order {order_id}: {note}. The items "
        "already shipped are invoiced with payment due at once; the items not yet shipped are cancelled." + _SIGNATURE,
    ),
    "customer_billing_changed": (
        "Billing data changed: customer {customer_id}",
        "Accounts receivable,\n\nthe billing data of {customer_name} ({customer_id}) changed in the customer "
        "master; invoices from now on use the new data.\n\n{note}",
    ),
    "shipment_exception": (
        "Shipment exception on order {order_id}",
        "Operations,\n\na shipment on order {order_id} was not accepted for invoicing: {note}",
    ),
    "fulfillment_overdue": (
        "Order {order_id} has not shipped",
        "Operations,\n\norder {order_id} was approved but nothing has shipped yet. {note}",
    ),
    "card_declined": (
        "Payment for invoice {invoice_number} did not go through",
        "Hello {customer_name},\n\nwe could not charge your card for invoice {invoice_number} ({amount}): "
        "{note}. Please pay by bank transfer quoting {payment_reference}, or update your card." + _SIGNATURE,
    ),
    "refund_issued": (
        "Refund for invoice {invoice_number}",
        "Hello {customer_name},\n\nwe have refunded {note}. Depending on your bank it shows on your statement "
        "within 5 to 10 days." + _SIGNATURE,
    ),
    "refund_failed": (
        "Refund failed on order {order_id}",
        "Accounts receivable,\n\n{note}\n\nPay it out another way or set it against the customer's next "
        "invoice (customer {customer_id}).",
    ),
    "external_refund": (
        "Refund made outside o2c on order {order_id}",
        "Accounts receivable,\n\nrefund {note}. It is recorded against customer {customer_id} and taken out of "
        "their credit balance.",
    ),
    "chargeback_opened": (
        "Chargeback on order {order_id}",
        "Accounts receivable,\n\n{customer_name} ({customer_id}) disputed a card payment on order {order_id} "
        "with their bank: {note}. Stripe has taken the money back until the bank decides. Submit evidence "
        "(invoice, proof of delivery) in Stripe's dashboard.",
    ),
    "chargeback_evidence_due": (
        "Evidence due soon: chargeback on order {order_id}",
        "Accounts receivable,\n\nthe chargeback on order {order_id} is still open: {note}. Without evidence "
        "the bank decides for the cardholder.",
    ),
    "chargeback_closed": (
        "Chargeback decided on order {order_id}",
        "Accounts receivable,\n\nthe chargeback on order {order_id} is decided: {note}",
    ),
}

_SUBJECT_FACTS = {name for subject, _ in _TEMPLATES.values() for _, name, _, _ in Formatter().parse(subject) if name}
