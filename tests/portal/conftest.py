"""The customer portal under test: its own SQLite database with two customers' invoices, credit notes and
archived documents written as rows, the portal app with a RecordingSendGrid for its sign-in emails, httpx
over ASGI for most tests, and Debian's Chromium through Playwright for the browser test.

No worker and no Temporal: this slice of the portal only reads the book and sends its own email."""

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from models.tables import ArchivedDocument, CreditNote, Customer, Invoice, Order, Payment, PaymentApplication
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from o2c.web.portal import PortalSettings, create_app
from o2c.web.portal.app import CSRF_COOKIE
from tests.support import Database, RecordingSendGrid

SECRET = "o2c-test-suite-portal-secret-0123456789"
ACME = "billing@initech.example"  # C1's billing email; its main email is ap@initech.example
EVIL = "<script>alert(1)</script>"
EVIL_EMAIL = "ap@evil.example"
LINK = re.compile(r"https?://[^\s/]+/portal/link/[A-Za-z0-9_\-%]+")
TODAY = date.today()


@dataclass
class PortalStack:
    db: Database
    app: Any
    mail: RecordingSendGrid
    settings: Settings
    portal: PortalSettings
    documents: dict[str, ArchivedDocument]

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://portal.test")

    async def ask_for_link(self, http: httpx.AsyncClient, email: str) -> httpx.Response:
        await http.get("/portal/sign-in")
        return await http.post("/portal/sign-in", data={"email": email, "csrftoken": http.cookies[CSRF_COOKIE]})

    def links_sent_to(self, email: str) -> list[str]:
        return [LINK.findall(text_of(m))[0] for m in self.mail.sent if recipient(m) == email]

    async def use_link(self, http: httpx.AsyncClient, link: str) -> httpx.Response:
        page = await http.get(httpx.URL(link).path)
        assert page.status_code == 200
        token = httpx.URL(link).path.rsplit("/", 1)[1]
        return await http.post("/portal/sign-in/link", data={"token": token, "csrftoken": http.cookies[CSRF_COOKIE]})

    async def signed_in(self, email: str) -> httpx.AsyncClient:
        http = self.http()
        before = len(self.links_sent_to(email))
        assert (await self.ask_for_link(http, email)).status_code == 200
        links = self.links_sent_to(email)
        assert len(links) == before + 1, "no sign-in email"
        answer = await self.use_link(http, links[-1])
        assert answer.status_code == 303 and answer.headers["location"] == "/portal", answer.text
        return http


def text_of(mail: dict[str, Any]) -> str:
    return str(next(c["value"] for c in mail["content"] if c["type"] == "text/plain"))


def recipient(mail: dict[str, Any]) -> str:
    return str(mail["personalizations"][0]["to"][0]["email"])


async def mail_to(stack: PortalStack, email: str, count: int = 1) -> list[str]:
    """The links sent to ``email`` once there are ``count`` (the email goes after the page is answered)."""
    for _ in range(400):
        links = stack.links_sent_to(email)
        if len(links) >= count:
            return links
        await asyncio.sleep(0.025)
    raise AssertionError(f"no sign-in email to {email}: {stack.mail.subjects()}")


def _document(number: str, order_id: str, kind: str = "invoice") -> ArchivedDocument:
    # Bytes that are not text in any encoding: a served copy that was decoded or re-encoded would differ.
    pdf = b"%PDF-1.7\n" + secrets.token_bytes(2048) + b"\n%%EOF\n"
    ubl = f"<Invoice><ID>{number}</ID></Invoice>".encode() + secrets.token_bytes(64)
    return ArchivedDocument(
        number=number, kind=kind, order_id=order_id, pdf=pdf, ubl=ubl, sha256="x" * 64, created_at=datetime.now(UTC)
    )


def _order(order_id: str, customer_id: str, total_minor: int) -> Order:
    return Order(
        id=order_id,
        customer_id=customer_id,
        currency="USD",
        total_minor=total_minor,
        credit_reserved_minor=0,
        status="INVOICED",
        payment_method="bank_transfer",
        net_days=30,
        end_of_month=False,
        discount_percent="0",
        discount_days=0,
        invoicing="on_completion",
        fingerprint="x",
        placed_at=datetime.now(UTC),
    )


def _invoice(number: str, order_id: str, customer_id: str, total_minor: int, open_minor: int, age: int) -> Invoice:
    return Invoice(
        number=number,
        order_id=order_id,
        customer_id=customer_id,
        invoice_key=number,
        currency="USD",
        net_minor=total_minor,
        tax_minor=0,
        total_minor=total_minor,
        open_minor=open_minor,
        issued_on=TODAY - timedelta(days=age),
        due_date=TODAY - timedelta(days=age - 30),
        payment_reference=f"RF18{number.replace('-', '')}",
        status="open" if open_minor else "paid",
        created_at=datetime.now(UTC),
    )


def seed(db: Database) -> dict[str, ArchivedDocument]:
    """C1 (Initech): INV-1 over 100.00, 10.00 credited by CN-1 and 30.00 paid, so 60.00 open; INV-2 paid.
    C2, named like a script: INV-9 open. Every invoice and credit note has its archived PDF and UBL."""
    made = [("INV-1", "O-1", "invoice"), ("INV-2", "O-2", "invoice"), ("CN-1", "O-1", "credit_note")]
    documents = {n: _document(n, o, k) for n, o, k in [*made, ("INV-9", "O-9", "invoice")]}
    with transaction(db.engine) as session:
        now = datetime.now(UTC)
        session.add(
            Customer(
                id="C1", name="Initech", email="ap@initech.example", billing_email=ACME, currency="USD", created_at=now
            )
        )
        session.add(Customer(id="C2", name=EVIL, email=EVIL_EMAIL, currency="USD", created_at=now))
        session.flush()
        for order in (_order("O-1", "C1", 100_00), _order("O-2", "C1", 250_00), _order("O-9", "C2", 77_00)):
            session.add(order)
        session.flush()
        session.add(_invoice("INV-1", "O-1", "C1", 100_00, 60_00, age=40))
        session.add(_invoice("INV-2", "O-2", "C1", 250_00, 0, age=80))
        session.add(_invoice("INV-9", "O-9", "C2", 77_00, 77_00, age=10))
        session.flush()
        session.add(
            CreditNote(
                number="CN-1",
                dedupe_key="cn-1",
                invoice_number="INV-1",
                order_id="O-1",
                customer_id="C1",
                currency="USD",
                net_minor=10_00,
                tax_minor=0,
                total_minor=10_00,
                reason="One widget arrived broken",
                actor="ar-clerk",
                issued_on=TODAY - timedelta(days=20),
                created_at=now,
            )
        )
        session.add(
            Payment(
                id="P-1",
                customer_id="C1",
                amount_minor=30_00,
                unapplied_minor=0,
                currency="USD",
                method="bank_transfer",
                received_at=now,
            )
        )
        session.flush()
        session.add(PaymentApplication(payment_id="P-1", invoice_number="INV-1", amount_minor=30_00, applied_at=now))
        for document in documents.values():
            session.add(ArchivedDocument(**document.model_dump()))
    return documents


def make_stack(db: Database, public_url: str) -> PortalStack:
    settings = Settings(database_url=db.url, seller_name="Acme Supplies GmbH")  # type: ignore[arg-type]
    portal = PortalSettings(secret=SECRET, public_url=public_url, colour="#0b6e4f")  # type: ignore[arg-type]
    mail = RecordingSendGrid()
    documents = seed(db)
    app = create_app(db.engine, settings, portal, mail)  # type: ignore[arg-type]
    return PortalStack(db, app, mail, settings, portal, documents)


@pytest.fixture
def stack(sqlite_db: Database) -> PortalStack:
    return make_stack(sqlite_db, "http://portal.test")


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A page the size of a phone's screen, reading British English."""
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", accept_downloads=True)
    try:
        yield await context.new_page()
    finally:
        await context.close()


# The portal with a real worker, for what customers decide (tests/portal/test_talk.py).
from tests.portal.workflow_stack import talk  # noqa: E402, F401
