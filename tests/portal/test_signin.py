"""Signing in by emailed link: single use, expiring, the same answer for any address, and limited."""

from datetime import UTC, datetime, timedelta
from typing import Any

from python_http_client.exceptions import HTTPError
from sqlalchemy import update
from sqlmodel import col, select

from models.tables import EmailOutbox, PortalSignInLink
from o2c.platform.db import snapshot, transaction
from o2c.web.portal.links import issue_link_for, issue_links, token_hash
from o2c.web.portal.mail import send_sign_in_link
from tests.portal.conftest import ACME, PortalStack, recipient, text_of
from tests.support import RecordingSendGrid


async def test_the_link_signs_in_once_and_only_its_hash_is_kept(stack: PortalStack) -> None:
    http = await stack.signed_in(ACME)
    assert "Initech" in (await http.get("/portal")).text
    [link] = stack.links_sent_to(ACME)
    [mail] = stack.mail.sent
    assert mail["subject"] == "Sign in to Acme Supplies GmbH"
    assert "30 minutes" in text_of(mail)
    token = link.rsplit("/", 1)[1]
    with snapshot(stack.db.engine) as session:
        row = session.exec(select(PortalSignInLink)).one()
        outbox = session.exec(select(EmailOutbox)).one()
    assert row.token_sha256 == token_hash(token) and token not in row.token_sha256
    assert row.customer_id == "C1" and row.used_at is not None
    assert row.expires_at - row.created_at == timedelta(minutes=30)
    assert (outbox.key, outbox.kind, outbox.recipient, outbox.status) == (
        f"portal-sign-in:{row.id}",
        "portal_sign_in",
        ACME,
        "sent",
    )

    again = stack.http()
    refused = await stack.use_link(again, link)
    assert refused.status_code == 400 and "no longer works" in refused.text
    assert (await again.get("/portal")).headers["location"] == "/portal/sign-in"


async def test_an_expired_link_is_refused(stack: PortalStack) -> None:
    http = stack.http()
    await stack.ask_for_link(http, ACME)
    [link] = stack.links_sent_to(ACME)
    with transaction(stack.db.engine) as session:
        session.execute(update(PortalSignInLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    refused = await stack.use_link(http, link)
    assert refused.status_code == 400
    assert (await http.get("/portal")).status_code == 303
    with snapshot(stack.db.engine) as session:
        assert session.exec(select(PortalSignInLink.used_at)).one() is None


async def test_a_made_up_token_is_refused(stack: PortalStack) -> None:
    http = stack.http()
    refused = await stack.use_link(http, "http://portal.test/portal/link/" + "A" * 43)
    assert refused.status_code == 400


async def test_an_unknown_address_gets_the_same_page_and_no_mail(stack: PortalStack) -> None:
    known = await stack.ask_for_link(stack.http(), ACME)
    unknown = await stack.ask_for_link(stack.http(), "nobody@nowhere.example")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(ACME, "X") == unknown.text.replace("nobody@nowhere.example", "X")
    assert [m["personalizations"][0]["to"][0]["email"] for m in stack.mail.sent] == [ACME]
    with snapshot(stack.db.engine) as session:
        assert len(session.exec(select(PortalSignInLink)).all()) == 1


async def test_the_main_email_in_any_case_signs_in_too(stack: PortalStack) -> None:
    await stack.ask_for_link(stack.http(), "AP@Initech.Example")
    with snapshot(stack.db.engine) as session:
        assert session.exec(select(col(PortalSignInLink.customer_id))).all() == ["C1"]


async def test_sign_in_requests_beyond_the_limit_are_refused(stack: PortalStack) -> None:
    http = stack.http()
    answers = [(await stack.ask_for_link(http, ACME)).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    assert len(stack.mail.sent) == 5
    # Per client address too, whatever the email.
    others = [(await stack.ask_for_link(http, f"someone{n}@nowhere.example")).status_code for n in range(2)]
    assert others == [429, 429]


async def test_a_sign_in_without_the_csrf_token_is_refused(stack: PortalStack) -> None:
    http = stack.http()
    await http.get("/portal/sign-in")
    assert (await http.post("/portal/sign-in", data={"email": ACME})).status_code == 403
    assert stack.mail.sent == []


class FlakySendGrid(RecordingSendGrid):
    """SendGrid that answers 503 to the first send, then accepts."""

    def send(self, mail: Any) -> Any:
        if not self.sent and not getattr(self, "failed", False):
            self.failed = True
            raise HTTPError(503, "Service Unavailable", b"try later", {})
        return super().send(mail)


def test_a_retried_sign_in_email_is_sent_once(stack: PortalStack) -> None:
    [link] = issue_links(stack.db.engine, ACME, 30)
    sendgrid = FlakySendGrid()
    for _ in range(2):  # a 503 and its retry, then the whole send again: one email
        send_sign_in_link(stack.db.engine, stack.settings, sendgrid, link, "http://portal.test/portal/link/x", 30)  # type: ignore[arg-type]
    assert [recipient(m) for m in sendgrid.sent] == [ACME]


async def test_a_link_issued_for_one_customer_signs_in_as_them_once(stack: PortalStack) -> None:
    """What ``o2c dev --demo`` prints: a link made for a customer id, to their billing email."""
    assert issue_link_for(stack.db.engine, "NOBODY", 30) is None
    link = issue_link_for(stack.db.engine, "C1", 30)
    assert link is not None and (link.customer_id, link.email) == ("C1", ACME)
    http = stack.http()
    answer = await stack.use_link(http, f"http://portal.test/portal/link/{link.token}")
    assert answer.status_code == 303 and "Initech" in (await http.get("/portal")).text
    assert (await stack.use_link(stack.http(), f"http://portal.test/portal/link/{link.token}")).status_code == 400
    assert stack.mail.sent == []  # issued, not emailed
