"""Email through SendGrid, exactly once per business event, and the dunning steps that send reminders.

An outbox row, unique on the email's key, is written before sending and marked sent after; a retry that
finds it sent does nothing. A retry that finds it still "sending" (a worker killed between SendGrid's 202
and our commit) asks SendGrid's Email Activity for the key before it sends again.
"""

import base64
import io
import json
from datetime import UTC, datetime, timedelta

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, CustomArg, Disposition, FileContent, FileName, FileType, Mail
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archive import pay_online_link
from activities.context import log
from activities.email_templates import Rendered, header_text, render
from activities.orders import audit, load_order
from models.activity_io import DunningStepRun, EmailKind, EmailSent, ErrorType, SendEmail
from models.money import format_money
from models.tables import (
    ArchivedDocument,
    CollectionTask,
    CreditNote,
    Customer,
    CustomerChange,
    DunningEvent,
    EmailOutbox,
    Invoice,
    Order,
)
from o2c.platform.config import Settings
from o2c.platform.csvout import write_csv
from o2c.platform.db import insert_new, run_transaction, snapshot, transaction

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


def _attachment(content: bytes, filename: str, mime_type: str) -> Attachment:
    """An attachment whose file name is fit for its MIME header (names carry customer and document ids)."""
    return Attachment(
        FileContent(base64.b64encode(content).decode()),
        FileName(header_text(filename)),
        FileType(mime_type),
        Disposition("attachment"),
    )


def _retry_after(exc: HTTPError) -> timedelta | None:
    """SendGrid's ``Retry-After`` on a 429 (seconds), honoured by the next retry; capped at ten minutes."""
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return timedelta(seconds=min(600, max(1, int(str(value))))) if value is not None else None
    except ValueError:
        return None


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings, sendgrid: SendGridAPIClient) -> None:
        self._engine = engine
        self._settings = settings
        self._sendgrid = sendgrid

    @activity.defn(name="send_email")
    def send_email(self, request: SendEmail) -> EmailSent:
        resend = request.order_id is None and request.document_number is not None
        # Only a resend writes (its audit entry); every other email reads its facts from a snapshot.
        with (transaction if resend else snapshot)(self._engine) as session:
            if resend:
                request = self._about_document(session, request)
            if request.order_id is None:
                facts = self._customer_facts(session, request.customer_id or "", request.note)
            else:
                facts = self._facts(session, request.order_id, request.invoice_number, request.note)
            recipient = facts["customer_email"] if request.kind in TO_CUSTOMER else self._team(request.kind)
            recipient = request.to or recipient
            if request.kind is EmailKind.STATEMENT:
                attachments = self._statement(session, request, facts)
            else:
                attachments = self._documents(session, request, facts)
        return self._deliver(
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
            _attachment(document.pdf, f"{number}.pdf", "application/pdf"),
            _attachment(document.ubl, f"{number}.xml", "application/xml"),
        ]

    @activity.defn(name="run_dunning_step")
    def run_dunning_step(self, step: DunningStepRun) -> EmailSent:
        with transaction(self._engine) as session:
            if (
                session.exec(
                    select(DunningEvent.id).where(
                        DunningEvent.invoice_number == step.invoice_number,
                        DunningEvent.step_name == step.step_name,
                    )
                ).first()
                is None
            ):
                session.add(
                    DunningEvent(
                        order_id=step.order_id,
                        invoice_number=step.invoice_number,
                        step_name=step.step_name,
                        level=step.level,
                        amount_due_minor=step.amount_due_minor,
                        escalated=step.escalate,
                        created_at=datetime.now(UTC),
                    )
                )
            facts = self._facts(session, step.order_id, step.invoice_number, "")
            order = load_order(session, step.order_id)
            facts["amount"] = format_money(step.amount_due_minor, order.currency)
            if step.escalate:
                self._open_task(session, step, order)
            if step.block_credit:
                self._block(session, step, order)
        key = f"dunning:{step.invoice_number}:{step.step_name}"
        sent = EmailSent(message_id="", already_sent=True)
        if step.remind:
            sent = self._deliver(
                key, step.order_id, f"dunning_{step.template}", facts["customer_email"], render(step.template, facts)
            )
        if step.escalate:
            template = step.template if not step.remind else "escalation"
            escalation_key = key if not step.remind else f"{key}:escalation"
            sent = self._deliver(
                escalation_key,
                step.order_id,
                f"dunning_{template}",
                self._settings.collections_email,
                render(template, facts),
            )
        return sent

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
        attachment = _attachment(
            buffer.getvalue().encode(), f"statement-{facts['customer_id']}-{today.isoformat()}.csv", "text/csv"
        )
        audit(session, f"audit:{request.key}", None, "statement_sent", request.note, facts["customer_id"])
        return [attachment]

    def _open_task(self, session: Session, step: DunningStepRun, order: Order) -> None:
        """Escalation is work for a person: an open collection task, once per invoice and step."""
        exists = session.exec(
            select(CollectionTask.id).where(
                CollectionTask.invoice_number == step.invoice_number, CollectionTask.step_name == step.step_name
            )
        ).first()
        if exists is None:
            session.add(
                CollectionTask(
                    order_id=order.id,
                    customer_id=order.customer_id,
                    invoice_number=step.invoice_number,
                    step_name=step.step_name,
                    amount_due_minor=step.amount_due_minor,
                    created_at=datetime.now(UTC),
                )
            )

    def _block(self, session: Session, step: DunningStepRun, order: Order) -> None:
        """Blocks further credit: the customer's next orders are rejected until finance unblocks them."""
        change_id = f"dunning:{step.invoice_number}:{step.step_name}"
        if session.exec(select(CustomerChange.id).where(CustomerChange.change_id == change_id)).first() is not None:
            return
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        if customer.blocked:
            return
        customer.blocked = True
        customer.updated_at = datetime.now(UTC)
        session.add(customer)
        reason = f"dunning step {step.step_name} on invoice {step.invoice_number}"
        session.add(
            CustomerChange(
                change_id=change_id,
                customer_id=customer.id,
                field="blocked",
                old_value="false",
                new_value="true",
                actor="dunning",
                reason=reason,
                created_at=customer.updated_at,
            )
        )
        audit(session, f"customer-change:{change_id}", order.id, "customer_blocked", "dunning", reason)

    def _team(self, kind: EmailKind) -> str:
        if kind in (EmailKind.CREDIT_HOLD, EmailKind.CREDIT_HOLD_REMINDER):
            return self._settings.finance_email
        if kind in TO_RECEIVABLES:
            return self._settings.accounts_receivable_email
        return self._settings.operations_email

    def _customer_facts(self, session: Session, customer_id: str, note: str) -> dict[str, str]:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise ApplicationError(f"customer {customer_id} is not in the master", non_retryable=True)
        return {
            "customer_id": customer.id,
            "customer_name": customer.name,
            "customer_email": customer.invoice_email,
            "note": note,
        }

    def _facts(self, session: Session, order_id: str, invoice_number: str | None, note: str) -> dict[str, str]:
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
            link = pay_online_link(self._settings, order, invoice)
            if link and invoice.open_minor > 0:
                facts["pay_online"] = f"\n\nOr pay online by card: {link}"
        return facts

    def _deliver(
        self,
        key: str,
        order_id: str | None,
        kind: str,
        recipient: str,
        email: Rendered,
        attachments: list[Attachment] | None = None,
    ) -> EmailSent:
        logger = log(order_id, email_key=key, kind=kind)
        new_row = {
            "key": key,
            "order_id": order_id,
            "kind": kind,
            "recipient": recipient,
            "subject": email.subject[:300],
            "status": "sending",
            "created_at": datetime.now(UTC),
        }

        def claim(session: Session) -> EmailOutbox | None:
            """None for a new key; else the earlier attempt's row."""
            if insert_new(session, EmailOutbox, [new_row], ["key"]):
                return None
            row = session.get(EmailOutbox, key)
            assert row is not None
            return row

        earlier = run_transaction(self._engine, claim)
        earlier_attempt = earlier is not None
        if earlier is not None and earlier.status == "sent":
            logger.info("email already sent")
            return EmailSent(message_id=earlier.provider_message_id or "", already_sent=True)
        # An earlier attempt may have reached SendGrid and died before it could write "sent": ask
        # SendGrid's Email Activity for our key before sending again.
        found = self._find_sent(key) if earlier_attempt else None
        message_id = found or self._post(key, order_id, recipient, email, attachments or [])
        sent = update(EmailOutbox).where(col(EmailOutbox.key) == key)
        sent = sent.values(status="sent", provider_message_id=message_id, sent_at=datetime.now(UTC))
        run_transaction(self._engine, lambda session: session.execute(sent))
        logger.info("email found already sent" if found else "email sent", message_id=message_id)
        return EmailSent(message_id=message_id, already_sent=found is not None)

    def _find_sent(self, key: str) -> str | None:
        """The message SendGrid holds under our key, if any. Without Email Activity access (401/403/404:
        it is a paid add-on) there is no way to know, and the email is sent again."""
        try:
            response = self._sendgrid.client.messages.get(
                query_params={"query": f"unique_args['o2c_email_key']=\"{key}\"", "limit": 1}
            )
        except HTTPError as exc:
            status = getattr(exc, "status_code", 0)
            if status in (401, 403, 404):
                log(None, email_key=key).warning("no Email Activity access: cannot rule out a duplicate", status=status)
                return None
            raise ApplicationError(f"SendGrid Email Activity answered {status}", type="SendGridUnavailable") from exc
        messages = json.loads(response.body or b"{}").get("messages") or []
        return str(messages[0]["msg_id"]) if messages else None

    def _post(
        self, key: str, order_id: str | None, recipient: str, email: Rendered, attachments: list[Attachment]
    ) -> str:
        mail = Mail(
            from_email=header_text(self._settings.mail_from),
            to_emails=header_text(recipient),
            subject=email.subject,
            plain_text_content=email.text,
            html_content=email.html,
        )
        if attachments:
            mail.attachment = attachments
        # The facts go along as dynamic template data; with a SendGrid template id configured for this
        # template, SendGrid renders its own design from them instead of our text.
        mail.dynamic_template_data = dict(email.data)
        template_id = self._settings.sendgrid_template_ids.get(email.template)
        if template_id:
            mail.template_id = template_id
        mail.custom_arg = [CustomArg("o2c_email_key", key)] + (
            [CustomArg("o2c_order_id", order_id)] if order_id else []
        )
        try:
            response = self._sendgrid.send(mail)
        except HTTPError as exc:
            status = getattr(exc, "status_code", 0)
            retryable = status == 429 or status >= 500
            raise ApplicationError(
                f"SendGrid answered {status}: {getattr(exc, 'body', b'')!r}",
                type="SendGridRejected",
                non_retryable=not retryable,
                next_retry_delay=_retry_after(exc) if status == 429 else None,
            ) from exc
        return str(response.headers.get("X-Message-Id", ""))
