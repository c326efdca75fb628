"""The ``send_email`` activity: who receives each kind of email, and the documents attached to it."""

import io
from datetime import UTC, datetime

from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email.facts import customer_facts, order_facts
from activities.email.outbox import Outbox, attachment
from activities.email.templates import render
from activities.records import audit
from models.activity_io import EmailKind, EmailSent, ErrorType, SendEmail
from models.money import format_money
from models.tables import ArchivedDocument, CreditNote, Invoice
from o2c.platform.config import Settings
from o2c.platform.csvout import write_csv
from o2c.platform.db import snapshot, transaction

TO_CUSTOMER = {
    EmailKind.STATEMENT,
    EmailKind.INVOICE,
    EmailKind.INVOICE_COPY,
    EmailKind.CREDIT_NOTE,
    EmailKind.ORDER_REJECTED,
    EmailKind.ORDER_CANCELLED,
    EmailKind.CARD_DECLINED,
    EmailKind.ORDER_REST_CANCELLED,
    EmailKind.REFUND_ISSUED,
}


TO_RECEIVABLES = {
    EmailKind.CUSTOMER_BILLING_CHANGED,
    EmailKind.REFUND_FAILED,
    EmailKind.EXTERNAL_REFUND,
    EmailKind.CHARGEBACK_OPENED,
    EmailKind.CHARGEBACK_EVIDENCE_DUE,
    EmailKind.CHARGEBACK_CLOSED,
}


WITH_DOCUMENT = {EmailKind.INVOICE, EmailKind.INVOICE_COPY}


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings, sendgrid: SendGridAPIClient) -> None:
        self._engine = engine
        self._settings = settings
        self._outbox = Outbox(engine, settings, sendgrid)

    @activity.defn(name="send_email")
    def send_email(self, request: SendEmail) -> EmailSent:
        resend = request.order_id is None and request.document_number is not None
        # Only a resend writes (its audit entry); every other email reads its facts from a snapshot.
        with (transaction if resend else snapshot)(self._engine) as session:
            if resend:
                request = self._about_document(session, request)
            if request.order_id is None:
                facts = customer_facts(session, request.customer_id or "", request.note)
            else:
                facts = order_facts(session, self._settings, request.order_id, request.invoice_number, request.note)
            recipient = facts["customer_email"] if request.kind in TO_CUSTOMER else self._team(request.kind)
            recipient = request.to or recipient
            if request.kind is EmailKind.STATEMENT:
                attachments = self._statement(session, request, facts)
            else:
                attachments = self._documents(session, request, facts)
        return self._outbox.deliver(
            request.key, request.order_id, request.kind.value, recipient, render(request.kind.value, facts), attachments
        )

    def _about_document(self, session: Session, request: SendEmail) -> SendEmail:
        """A resend names only the document: find its order, and for a credit note use its own wording."""
        number = request.document_number or ""
        document = session.get(ArchivedDocument, number)
        if document is None:
            raise ApplicationError(
                f"no issued invoice or credit note {number}", type=ErrorType.UNKNOWN_DOCUMENT.value, non_retryable=True
            )
        invoice_number = number
        kind = request.kind
        if document.kind == "credit_note":
            note = session.get(CreditNote, number)
            assert note is not None
            invoice_number, kind = note.invoice_number, EmailKind.CREDIT_NOTE
        audit(session, f"audit:{request.key}", document.order_id, "document_resent", request.note, number)
        return request.model_copy(
            update={"order_id": document.order_id, "invoice_number": invoice_number, "kind": kind}
        )

    def _documents(self, session: Session, request: SendEmail, facts: dict[str, str]) -> list[Attachment]:
        """The archived PDF and UBL XML of the invoice or credit note the email is about."""
        number = request.document_number or (request.invoice_number if request.kind in WITH_DOCUMENT else None)
        if number is None:
            return []
        document = session.get(ArchivedDocument, number)
        if document is None:
            raise ApplicationError(f"no archived document {number}", non_retryable=True)
        if document.kind == "credit_note":
            note = session.get(CreditNote, number)
            assert note is not None
            facts |= {"document_number": number, "amount": format_money(note.total_minor, note.currency)}
        return [
            attachment(document.pdf, f"{number}.pdf", "application/pdf"),
            attachment(document.ubl, f"{number}.xml", "application/xml"),
        ]

    def _statement(self, session: Session, request: SendEmail, facts: dict[str, str]) -> list[Attachment]:
        """Every open invoice of the customer with its age, in the email and as a CSV attachment."""
        today = datetime.now(UTC).date()
        invoices = session.exec(
            select(Invoice)
            .where(Invoice.customer_id == facts["customer_id"], Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
        ).all()
        rows = [
            (
                i.number,
                i.order_id,
                i.issued_on.isoformat(),
                i.due_date.isoformat(),
                max(0, (today - i.due_date).days),
                format_money(i.open_minor, i.currency),
                i.payment_reference,
            )
            for i in invoices
        ]
        totals: dict[str, int] = {}
        for invoice in invoices:
            totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.open_minor
        lines = [
            f"{n}  order {o}  issued {i}  due {d}  {'overdue ' + str(a) + ' days' if a else 'not yet due'}  {m}  ({r})"
            for n, o, i, d, a, m, r in rows
        ]
        facts |= {
            "statement_date": today.isoformat(),
            "statement_lines": "\n".join(lines) or "No open invoices: thank you.",
            "statement_total": ", ".join(format_money(v, k) for k, v in sorted(totals.items())) or "nothing",
        }
        buffer = io.StringIO()
        write_csv(buffer, ("invoice", "order", "issued", "due", "days_overdue", "open", "payment_reference"), rows)
        csv_file = attachment(
            buffer.getvalue().encode(), f"statement-{facts['customer_id']}-{today.isoformat()}.csv", "text/csv"
        )
        audit(session, f"audit:{request.key}", None, "statement_sent", request.note, facts["customer_id"])
        return [csv_file]

    def _team(self, kind: EmailKind) -> str:
        if kind in (EmailKind.CREDIT_HOLD, EmailKind.CREDIT_HOLD_REMINDER):
            return self._settings.finance_email
        if kind in TO_RECEIVABLES:
            return self._settings.accounts_receivable_email
        return self._settings.operations_email
