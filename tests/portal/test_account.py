"""A signed-in customer sees their own company's invoices, credit notes and documents, and nobody else's."""

from datetime import timedelta

import pytest
from babel.dates import format_date

from o2c.web.console.pages import money
from tests.portal.conftest import ACME, EVIL, EVIL_EMAIL, TODAY, PortalStack

PAGES = [
    "/portal",
    "/portal/paid",
    "/portal/credit-notes",
    "/portal/documents/INV-1.pdf",
    "/portal/documents/INV-1.xml",
]


@pytest.mark.parametrize("path", PAGES)
async def test_no_page_without_a_session(stack: PortalStack, path: str) -> None:
    answer = await stack.http().get(path)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/sign-in"


async def test_open_paid_and_credited_are_the_books_figures(stack: PortalStack) -> None:
    http = await stack.signed_in(ACME)
    home = (await http.get("/portal", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})).text
    assert money(60_00, "USD", "de_DE") in home and money(100_00, "USD", "de_DE") in home
    assert format_date(TODAY - timedelta(days=40), "medium", locale="de_DE") in home  # issued, in German
    assert "RF18INV1" in home and "DE89370400440532013000" in home and "COBADEFFXXX" in home
    assert "INV-2" not in home and 'lang="de"' in home
    paid = (await http.get("/portal/paid")).text
    assert "INV-2" in paid and money(250_00, "USD", "en") in paid and "INV-1" not in paid
    credits = (await http.get("/portal/credit-notes")).text
    assert "CN-1" in credits and "One widget arrived broken" in credits


@pytest.mark.parametrize("number", ["INV-1", "INV-2", "CN-1"])
async def test_documents_are_the_archived_bytes(stack: PortalStack, number: str) -> None:
    http = await stack.signed_in(ACME)
    pdf = await http.get(f"/portal/documents/{number}.pdf")
    xml = await http.get(f"/portal/documents/{number}.xml")
    assert pdf.content == stack.documents[number].pdf and pdf.headers["content-type"] == "application/pdf"
    assert xml.content == stack.documents[number].ubl
    assert pdf.headers["content-disposition"] == f'attachment; filename="{number}.pdf"'


async def test_another_customers_documents_are_not_found(stack: PortalStack) -> None:
    http = await stack.signed_in(EVIL_EMAIL)
    for number in ("INV-1", "INV-2", "CN-1", "INV-3", "../INV-1"):
        for extension in ("pdf", "xml"):
            assert (await http.get(f"/portal/documents/{number}.{extension}")).status_code == 404, number
    assert (await http.get("/portal/documents/INV-9.pdf")).content == stack.documents["INV-9"].pdf
    assert (await http.get("/portal/documents/INV-9.exe")).status_code == 404
    for path in ("/portal", "/portal/paid", "/portal/credit-notes"):
        page = (await http.get(path)).text
        assert "INV-1" not in page and "CN-1" not in page and "Initech" not in page


async def test_escaping_holds_for_a_customer_named_like_a_script(stack: PortalStack) -> None:
    http = await stack.signed_in(EVIL_EMAIL)
    home = await http.get("/portal")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home.text and EVIL not in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    echoed = await stack.ask_for_link(stack.http(), f"{EVIL}@x.example")
    assert EVIL not in echoed.text
    [mail] = [m for m in stack.mail.sent if m["personalizations"][0]["to"][0]["email"] == EVIL_EMAIL]
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    assert EVIL not in html


async def test_the_brand_colour_is_a_stylesheet(stack: PortalStack) -> None:
    css = await stack.http().get("/portal/brand.css")
    assert css.headers["content-type"].startswith("text/css") and "#0b6e4f" in css.text
