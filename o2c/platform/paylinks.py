"""Signed pay links: the worker puts them in invoice emails and documents, the pay page checks them.

The link is ``{O2C_PUBLIC_URL}/pay/{invoice number}?e={expiry}&t={token}``: the token an HMAC of the number
and the expiry (unix seconds) under ``O2C_PAYMENT_LINK_SECRET``, so links can be neither guessed from
invoice numbers nor extended. A link opens its page for ``O2C_PAYMENT_LINK_DAYS`` after the email or
document that carries it was made; every reminder carries a fresh one. Both the worker's activities and the
web edge use this, and it needs only configuration, so it lives in the platform.
"""

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from o2c.platform.config import Settings

TOKEN = re.compile(r"[0-9a-f]{32}")
EXPIRY = re.compile(r"[0-9]{1,12}")


def link_token(secret: str, number: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{number}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def payment_link(settings: Settings, number: str, made_at: datetime) -> str:
    """The link for an email or document made at ``made_at``; it opens the page for O2C_PAYMENT_LINK_DAYS."""
    expires = int((made_at + timedelta(days=settings.payment_link_days)).timestamp())
    token = link_token(settings.resolved_payment_link_secret(), number, expires)
    return f"{settings.public_url.rstrip('/')}/pay/{number}?e={expires}&t={token}"


def genuine(secret: str, number: str, expires: str, token: str) -> bool | None:
    """None when ``expires`` or ``token`` is not even shaped like ours, else whether the token signs them."""
    if not EXPIRY.fullmatch(expires) or not TOKEN.fullmatch(token):
        return None
    return hmac.compare_digest(token, link_token(secret, number, int(expires)))
