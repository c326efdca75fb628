"""The outbox: each email sent through SendGrid once per key.

An outbox row, unique on the email's key, is written before sending and marked sent after; a retry that
finds it sent does nothing. A retry that finds it still "sending" (a worker killed between SendGrid's 202
and our commit) asks SendGrid's Email Activity for the key before it sends again."""

import base64
import json
from datetime import UTC, datetime, timedelta

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, CustomArg, Disposition, FileContent, FileName, FileType, Mail
from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio.exceptions import ApplicationError

from activities.context import log
from activities.email.templates import Rendered, header_text
from models.activity_io import EmailSent
from models.tables import EmailOutbox
from o2c.platform.config import Settings
from o2c.platform.db import insert_new, run_transaction


def sendgrid_client(settings: Settings) -> SendGridAPIClient:
    client = SendGridAPIClient(api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_host)
    client.client.timeout = settings.sendgrid_timeout_seconds  # below the activity's 30 s
    return client


def _retry_after(exc: HTTPError) -> timedelta | None:
    """SendGrid's ``Retry-After`` on a 429 (seconds), honoured by the next retry; capped at ten minutes."""
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return timedelta(seconds=min(600, max(1, int(str(value))))) if value is not None else None
    except ValueError:
        return None


def attachment(content: bytes, filename: str, mime_type: str) -> Attachment:
    """An attachment whose file name is fit for its MIME header (names carry customer and document ids)."""
    return Attachment(
        FileContent(base64.b64encode(content).decode()),
        FileName(header_text(filename)),
        FileType(mime_type),
        Disposition("attachment"),
    )


class Outbox:
    """Sends each email once per key: an outbox row before SendGrid is called, marked sent after."""

    def __init__(self, engine: Engine, settings: Settings, sendgrid: SendGridAPIClient) -> None:
        self._engine = engine
        self._settings = settings
        self._sendgrid = sendgrid

    def deliver(
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
