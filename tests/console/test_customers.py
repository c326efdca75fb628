"""Customers: the search, the 360 with its documents, and master-data changes through CustomerMasterChange."""

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlmodel import Session, col, select

from models.tables import (
    ArchivedDocument,
    AuditEntry,
    ContactNote,
    CreditDecision,
    Customer,
    CustomerChange,
    Dispute,
    EmailOutbox,
)
from o2c.access import Role
from o2c.platform.db import transaction
from o2c.web.console.customers import (
    PER_PAGE,
    SECTION_ROWS,
    SECTIONS,
    changed_fields,
    customer_sections,
    search_customers,
)
from o2c.web.console.pages import money
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.console.test_orders import invoiced_order
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database


def customer_row(db: Any, customer_id: str) -> Customer:
    with Session(db.engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer


def changes_of(db: Any, customer_id: str) -> list[tuple[str, str | None, str | None, str]]:
    with Session(db.engine) as session:
        rows = session.exec(
            select(CustomerChange).where(CustomerChange.customer_id == customer_id).order_by(col(CustomerChange.id))
        ).all()
        return [(r.field, r.old_value, r.new_value, r.actor) for r in rows]


async def test_an_ar_clerk_finds_a_customer_downloads_an_invoice_and_changes_the_billing_email(
    stack: ConsoleStack, page: Any
) -> None:
    view = await invoiced_order(stack, "CUST-360", "Grace Hopper Ltd")
    number = view.invoices[0].number
    await sign_in(page, stack, Role.AR_CLERK)
    await page.get_by_role("link", name="Customers", exact=True).click()
    await page.get_by_label("Search by customer id").fill("grace h")
    await page.get_by_role("button", name="Search customers").click()
    await page.get_by_role("link", name="Grace Hopper Ltd").click()
    await page.wait_for_url(f"{stack.url}/customers/CUST-360")
    open_invoices = page.locator("#open_invoices")
    await expect(open_invoices).to_contain_text(number)

    async with page.expect_download() as download_info:
        await open_invoices.locator(f'a[href="/documents/{number}.pdf"]').click()
    download = await download_info.value
    downloaded = Path(await download.path()).read_bytes()
    with Session(stack.db.engine) as session:
        archived = session.get(ArchivedDocument, number)
        assert archived is not None
    assert downloaded == archived.pdf and downloaded.startswith(b"%PDF")
    assert hashlib.sha256(downloaded).hexdigest() == archived.sha256
    assert download.suggested_filename == f"{number}.pdf"

    await page.get_by_role("link", name="Edit master data").click()
    await page.get_by_label("Billing email").fill("billing@hopper.example")
    await page.get_by_label("Why").fill("accounts payable moved to a shared mailbox")
    await page.get_by_role("button", name="Save the change").click()
    await page.wait_for_url(f"{stack.url}/customers/CUST-360")
    await expect(page.get_by_role("status")).to_contain_text("Changed billing_email")
    await expect(page.locator("#billing-email")).to_have_text("billing@hopper.example")
    await expect(page.locator("#changes")).to_contain_text("ar-clerk")

    assert changes_of(stack.db, "CUST-360") == [("billing_email", None, "billing@hopper.example", "ar-clerk")]
    customer = customer_row(stack.db, "CUST-360")
    assert customer.billing_email == "billing@hopper.example"
    assert customer.email == "ap@hopper.example"  # only the field changed was sent
    with Session(stack.db.engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.event == "customer_changed")).one()
    assert audit.actor == "ar-clerk" and "billing_email" in audit.detail
    await expect(page.locator("#audit")).to_contain_text("customer_changed")
    await expect(page.locator("#emails")).to_contain_text(f"Invoice {number}")
    await screenshot(page, "customer-360")


async def test_an_auditor_cannot_change_a_customer_even_by_posting_the_form(stack: ConsoleStack) -> None:
    add_customer(stack.db)
    auditor = await stack.signed_in(Role.AUDITOR)
    page = await auditor.get("/customers/C1")
    assert page.status_code == 200 and "Initech" in page.text
    assert "Edit master data" not in page.text
    assert (await auditor.get("/customers/C1/edit")).status_code == 403
    refused = await stack.post(
        auditor, "/customers/C1/edit", {"billing_email": "evil@example.com", "vat_id": "XX1", "reason": "because"}
    )
    assert refused.status_code == 403
    customer = customer_row(stack.db, "C1")
    assert (customer.billing_email, customer.vat_id, customer.updated_at) == (None, None, None)
    assert changes_of(stack.db, "C1") == []
    with Session(stack.db.engine) as session:
        assert session.exec(select(AuditEntry)).all() == []

    clerk = await stack.signed_in(Role.AR_CLERK)
    assert (await clerk.get("/customers/C1/edit")).status_code == 200


async def test_a_refused_change_shows_why_and_changes_nothing(stack: ConsoleStack) -> None:
    add_customer(stack.db)
    clerk = await stack.signed_in(Role.AR_CLERK)
    # Refused by the workflow's activity: the dunning policy defines no such segment.
    answer = await stack.post(clerk, "/customers/C1/edit", {"dunning_segment": "platinum", "reason": "big account"})
    assert answer.status_code == 303 and answer.headers["location"] == "/customers/C1/edit"
    shown = await clerk.get("/customers/C1/edit")
    assert "no dunning segment &#39;platinum&#39;" in shown.text
    # Refused by the contract before anything is sent.
    await stack.post(clerk, "/customers/C1/edit", {"billing_email": "not an email", "reason": "typo"})
    assert "billing_email: value is not a valid email address" in (await clerk.get("/customers/C1/edit")).text
    # A value once set cannot be blanked by the form.
    await stack.post(clerk, "/customers/C1/edit", {"name": "", "reason": "oops"})
    assert "Name cannot be emptied" in (await clerk.get("/customers/C1/edit")).text
    assert changes_of(stack.db, "C1") == []
    assert customer_row(stack.db, "C1").dunning_segment is None


async def test_documents_are_served_byte_for_byte_and_unknown_ones_are_not_found(stack: ConsoleStack) -> None:
    add_customer(stack.db)
    add_order(stack.db, "O1", 10_00)
    pdf, ubl = b"%PDF-1.7\n\x00\xff binary \r\n", b'<?xml version="1.0"?><Invoice>\xc3\xa9</Invoice>'
    with transaction(stack.db.engine) as session:
        session.add(
            ArchivedDocument(
                number="INV-2026-000042",
                kind="invoice",
                order_id="O1",
                pdf=pdf,
                ubl=ubl,
                sha256=hashlib.sha256(pdf).hexdigest(),
                created_at=datetime.now(UTC),
            )
        )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url="http://console.test") as anon:
        assert (await anon.get("/documents/INV-2026-000042.pdf")).status_code == 303  # to the sign-in page
    auditor = await stack.signed_in(Role.AUDITOR)
    for extension, content, media_type in (("pdf", pdf, "application/pdf"), ("xml", ubl, "application/xml")):
        answer = await auditor.get(f"/documents/INV-2026-000042.{extension}")
        assert answer.status_code == 200
        assert answer.content == content
        assert answer.headers["content-type"] == media_type
        assert answer.headers["content-disposition"] == f'attachment; filename="INV-2026-000042.{extension}"'
        missing = await auditor.get(f"/documents/unknown.{extension}")
        assert missing.status_code == 404 and "There is no document unknown" in missing.text


def ids_on(html: str) -> list[str]:
    return re.findall(r'<td><a href="/customers/([^"]+)">', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_a_search_over_three_pages_pages_correctly(stack: ConsoleStack) -> None:
    matching = [f"PG-{n:03d}" for n in range(2 * PER_PAGE + 7)]
    with transaction(stack.db.engine) as session:
        for n, customer_id in enumerate(matching):
            name = f"Paging Partners {n:03d}"
            session.add(
                Customer(
                    id=customer_id, name=name, email=f"ap{n}@x.example", currency="USD", created_at=datetime.now(UTC)
                )
            )
        for n in range(5):
            session.add(
                Customer(
                    id=f"ZZ-{n}",
                    name=f"Other {n}",
                    email=f"o{n}@x.example",
                    currency="USD",
                    created_at=datetime.now(UTC),
                )
            )
    auditor = await stack.signed_in(Role.AUDITOR)
    seen: list[str] = []
    url: str | None = "/customers?q=PAGING"
    pages = []
    while url:
        page = await auditor.get(url)
        assert page.status_code == 200
        pages.append(ids_on(page.text))
        assert (link(page.text, "prev") is None) == (len(pages) == 1)
        seen += pages[-1]
        url = link(page.text, "next")
    assert [len(p) for p in pages] == [PER_PAGE, PER_PAGE, 7]
    assert seen == matching  # by name, each once, none of the others
    page_two = await auditor.get("/customers?q=paging&page=2")
    assert ids_on(page_two.text) == matching[PER_PAGE : 2 * PER_PAGE]
    assert link(page_two.text, "prev") == "/customers?q=paging&page=1"


async def test_the_search_matches_id_name_email_and_vat_id_by_prefix_in_any_case(stack: ConsoleStack) -> None:
    add_customer(stack.db, name="Initech", email="AP@initech.example", vat_id="DE123456789")
    add_customer(stack.db, limit_minor=None, id="C2", name="Initrode", email="billing@initrode.example")
    auditor = await stack.signed_in(Role.AUDITOR)

    async def found(term: str) -> list[str]:
        return ids_on((await auditor.get("/customers", params={"q": term})).text)

    assert await found("init") == ["C1", "C2"]
    assert await found("INITE") == ["C1"]
    assert await found("ap@INI") == ["C1"]
    assert await found("de1234") == ["C1"]
    assert await found("c2") == ["C2"]
    assert await found("nitech") == []  # a prefix, not anywhere in the name
    assert await found("%") == [] and await found("_nit") == []  # LIKE's wildcards are plain characters


async def test_the_list_sums_open_and_overdue_balances_per_customer(stack: ConsoleStack) -> None:
    add_customer(stack.db, limit_minor=500_00, blocked=True)
    add_order(stack.db, "O1", 180_00)
    today = date.today()
    add_invoice(stack.db, "I-1", "O1", 100_00, today + timedelta(days=10))
    add_invoice(stack.db, "I-2", "O1", 50_00, today - timedelta(days=5))
    add_invoice(stack.db, "I-3", "O1", 30_00, today - timedelta(days=40), paid_on=today - timedelta(days=20))
    auditor = await stack.signed_in(Role.AUDITOR)
    page = (await auditor.get("/customers")).text
    row = re.search(r'<a href="/customers/C1">Initech</a>.*?</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    assert cells == [money(150_00, "USD"), money(50_00, "USD"), money(500_00, "USD")]
    assert "<mark>Blocked</mark>" in row.group(0)


async def test_the_360_shows_every_section_paged_newest_first_and_escapes_names(stack: ConsoleStack) -> None:
    add_customer(stack.db, name="<script>alert(1)</script>")
    add_order(stack.db, "O1", 1200_00)
    today = date.today()
    for n in range(SECTION_ROWS + 2):
        add_invoice(stack.db, f"I-{n:02d}", "O1", 100_00, today - timedelta(days=60 - n))
    add_invoice(stack.db, "I-PAID", "O1", 20_00, today - timedelta(days=90), paid_on=today - timedelta(days=80))
    now = datetime.now(UTC)
    with transaction(stack.db.engine) as session:
        session.add(
            Dispute(
                order_id="O1",
                dispute_id="D-1",
                amount_minor=5_00,
                reason="damaged",
                status="open",
                opened_by="collector",
                opened_at=now,
            )
        )
        session.add(
            ContactNote(
                note_id="n1",
                customer_id="C1",
                order_id="O1",
                kind="promise",
                note="pays Friday",
                actor="collector",
                created_at=now,
            )
        )
        session.add(
            EmailOutbox(
                key="O1:invoice:I-00",
                order_id="O1",
                kind="invoice",
                recipient="ap@initech.example",
                subject="Invoice I-00",
                status="sent",
                created_at=now,
            )
        )
        session.add(
            EmailOutbox(
                key="statement:C1:r1",
                kind="statement",
                recipient="ap@initech.example",
                subject="Your statement",
                status="sent",
                created_at=now,
            )
        )
        session.add(
            EmailOutbox(
                key="statement:C10:r1",
                kind="statement",
                recipient="x@other.example",
                subject="Not theirs",
                status="sent",
                created_at=now,
            )
        )
        session.add(
            AuditEntry(
                dedupe_key="placed:O1",
                order_id="O1",
                event="order_placed",
                actor="storefront",
                detail="",
                created_at=now,
            )
        )
        session.add(
            ContactNote(note_id="n2", customer_id="C1", kind="call", note="rang AP", actor="collector", created_at=now)
        )
        session.add(
            CustomerChange(
                change_id="ch1",
                customer_id="C1",
                field="vat_id",
                new_value="DE1",
                actor="ar-clerk",
                reason="from the invoice",
                created_at=now,
            )
        )
        for key, event in (
            ("contact:n2", "contact_call"),  # a customer's own contact note: no order
            ("customer-change:ch1", "customer_changed"),
            ("audit:statement:C1:r1", "statement_sent"),
            ("audit:statement:C10:r1", "not_theirs"),
            ("contact:someone-else", "not_theirs_either"),
        ):
            session.add(AuditEntry(dedupe_key=key, event=event, actor="x", detail="", created_at=now))
        session.add(
            CreditDecision(
                dedupe_key="c:O1",
                order_id="O1",
                customer_id="C1",
                stage="order",
                decision="approve",
                decided_by="credit-engine",
                reason="within limit",
                currency="USD",
                created_at=now,
            )
        )
    auditor = await stack.signed_in(Role.AUDITOR)
    page = await auditor.get("/customers/C1")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page.text, re.S))
    open_numbers = re.findall(r"<td>(I-\d\d)</td>", sections["open_invoices"])
    assert open_numbers == [f"I-{n:02d}" for n in range(SECTION_ROWS + 1, 1, -1)]  # newest first, ten of twelve
    assert "I-PAID" in sections["paid_invoices"] and "I-PAID" not in sections["open_invoices"]
    assert "damaged" in sections["disputes"] and "pays Friday" in sections["promises"]
    assert "Invoice I-00" in sections["emails"] and "Your statement" in sections["emails"]
    assert "Not theirs" not in sections["emails"]
    assert "within limit" in sections["decisions"] and "from the invoice" in sections["changes"]
    events = re.findall(r"<td>(\w+)</td><td>(?:x|storefront)</td>", sections["audit"])
    assert sorted(events) == ["contact_call", "customer_changed", "order_placed", "statement_sent"]
    older = link(sections["open_invoices"], "next")
    assert older == "/customers/C1?open_invoices=2#open_invoices"
    second = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', (await auditor.get(older)).text, re.S))
    assert re.findall(r"<td>(I-\d\d)</td>", second["open_invoices"]) == ["I-01", "I-00"]
    assert (await auditor.get("/customers/NOPE")).status_code == 404


def test_the_search_and_the_360_read_alike_on_sqlite_and_postgresql(database: Database) -> None:
    """Without the console: the prefix match is LIKE on PostgreSQL and a range on SQLite; both take the
    search term's % and _ as plain characters, and find the same rows for each section of the 360."""
    add_customer(database, name="50% Off Ltd", email="AP@fifty.example", vat_id="DE_99")
    for n, (name, vat) in enumerate((("5 Stars Inc", "DEX12"), ("Fifty Fifty", None)), start=2):
        add_customer(database, id=f"C{n}", name=name, email=f"ap@c{n}.example", vat_id=vat)
    add_order(database, "O1", 100_00)
    add_invoice(database, "I-1", "O1", 100_00, date.today() - timedelta(days=3))
    now = datetime.now(UTC)
    with transaction(database.engine) as session:
        for key, order_id in (("O1:invoice:I-1", "O1"), ("statement:C1:r1", None), ("statement:C10:r1", None)):
            session.add(
                EmailOutbox(
                    key=key, order_id=order_id, kind="k", recipient="r", subject=key, status="sent", created_at=now
                )
            )

    def found(term: str) -> list[str]:
        return [customer.id for customer in search_customers(database.engine, term, 1).items]

    assert found("50%") == ["C1"] and found("5%") == [] and sorted(found("5")) == ["C1", "C2"]
    assert found("de_") == ["C1"] and found("dex") == ["C2"] and found("FIFTY") == ["C3"]
    assert found("ap@fif") == ["C1"] and found("c3") == ["C3"]
    page = search_customers(database.engine, "50", 1)
    assert page.extra["balances"] == {"C1": [("USD", 100_00, 100_00)]}

    sections = customer_sections(database.engine, "C1", dict.fromkeys(SECTIONS, 1))
    assert [i.number for i in sections["open_invoices"].items] == ["I-1"]
    assert sorted(e.key for e in sections["emails"].items) == ["O1:invoice:I-1", "statement:C1:r1"]
    assert customer_sections(database.engine, "C3", dict.fromkeys(SECTIONS, 1))["emails"].items == []


def test_the_form_sends_only_what_it_changes() -> None:
    current = {
        "name": "Initech",
        "email": "ap@initech.example",
        "billing_name": None,
        "billing_email": None,
        "billing_address": None,
        "vat_id": None,
        "dunning_segment": None,
        "currency": "USD",
        "risk_class": "standard",
        "credit_limit": "10000.00",
        "payment_terms": None,
        "blocked": "false",
    }
    form = {name: value or "" for name, value in current.items() if name != "payment_terms"}
    assert changed_fields(current, form) == {}
    assert changed_fields(current, form | {"credit_limit": "10,000", "currency": "usd"}) == {}
    assert changed_fields(current, form | {"billing_email": " b@initech.example ", "blocked": "true"}) == {
        "billing_email": "b@initech.example",
        "blocked": True,
    }
    # A new currency takes the limit with it (the master keeps the limit in the customer's currency).
    assert changed_fields(current, form | {"currency": "EUR"}) == {"currency": "EUR", "credit_limit": "10000.00"}
    assert changed_fields(current, {"vat_id": "DE1"}) == {"vat_id": "DE1"}  # fields left out stay as they are
    with pytest.raises(ValueError, match="Email cannot be emptied"):
        changed_fields(current, form | {"email": ""})
