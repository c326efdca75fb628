"""The sign-in email, sent the way every email is: through the outbox (activities/email/outbox.py), once
per key, so a retry after SendGrid failed or timed out never sends the link twice.

The portal is not a worker, so it calls the outbox itself (its log lines then carry no activity context)."""

import time
from typing import TypeVar

import structlog
from sendgrid import SendGridAPIClient
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.email import Outbox
from activities.email.templates import Rendered, header_text
from o2c.platform.config import Settings
from o2c.web.portal.links import IssuedLink

KIND = "portal_sign_in"
ATTEMPTS = 3
T = TypeVar("T")
logger = structlog.get_logger("o2c.portal")


def email_key(link: IssuedLink) -> str:
    return f"portal-sign-in:{link.id}"


def sign_in_email(settings: Settings, link: IssuedLink, url: str, minutes: int) -> Rendered:
    text = (
        f"Hello {link.customer_name},\n\nsign in to your account with {settings.seller_name} here:\n\n{url}\n\n"
        f"The link works once, for {minutes} minutes. If you did not ask for it, ignore this email: "
        "nobody can sign in without it."
    )
    return Rendered(subject=header_text(f"Sign in to {settings.seller_name}"), text=text, template=KIND)


def send_sign_in_link(
    engine: Engine, settings: Settings, sendgrid: SendGridAPIClient, link: IssuedLink, url: str, minutes: int
) -> None:
    """Sends the link, retrying a SendGrid refusal that a retry can fix under the same key."""
    outbox = Outbox(engine, settings, sendgrid)
    email = sign_in_email(settings, link, url, minutes)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            outbox.deliver(email_key(link), None, KIND, link.email, email)
            return
        except Exception as exc:  # the page was answered already: a failure is logged, not raised
            final = attempt == ATTEMPTS or (isinstance(exc, ApplicationError) and exc.non_retryable)
            if final:
                logger.error(
                    "sign-in email not sent", customer_id=link.customer_id, key=email_key(link), error=str(exc)
                )
                return
            time.sleep(attempt)
