"""Invoices and credit notes: gapless numbers under concurrency, documents parsed back, and delivery by email
exactly once with the PDF attached, through real workflows on both databases."""

import base64
import io
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.documents import CAC, CBC, BillingDocument, DocumentLine, Party, pdf, render_pdf, render_ubl, ubl
from activities.email import EmailActivities
from activities.invoicing import InvoicingActivities
from models.activity_io import EmailKind, IssueInvoice, SendEmail
from models.contract import OrderStatus, PaymentChannel, PaymentReceived, ShipmentDispatched, ShippedLine
from models.invoicing import is_valid_rf_reference
from models.tables import ArchivedDocument, CreditNote, EmailOutbox, Invoice, InvoiceLine, LedgerEntry
from o2c.client import DecisionRefused, InvalidInput, O2CClient
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from tests.harness import eventually, keep_history, running_worker
from tests.seed import add_customer, add_shipped_order
from tests.support import Database, RecordingSendGrid, sample_order

NS = {"cac": CAC, "cbc": CBC}


def document(
    currency: str, prices: list[tuple[str, int, str, int, int]], buyer_name: str = "Ada Lovelace"
) -> BillingDocument:
    """``prices``: (unit price, quantity, tax %, net minor, tax minor) per line."""
    lines = [
        DocumentLine(
            line_no=n,
            sku=f"SKU{n}",
            description=f"Item {n}",
            quantity=quantity,
            unit_price=Decimal(price),
            discount_minor=0,
            net_minor=net,
            tax_rate_percent=Decimal(rate),
            tax_minor=tax,
        )
        for n, (price, quantity, rate, net, tax) in enumerate(prices, start=1)
    ]
    net = sum(line.net_minor for line in lines)
    tax = sum(line.tax_minor for line in lines)
    return BillingDocument(
        kind="invoice",
        number="INV-2026-000042",
        issued_on=date(2026, 11, 23),
        currency=currency,
        order_id="A-1",
        seller=Party("Seller Ltd", ["1 Ledger Lane", "10115 Berlin"], "DE", "billing@seller.example", "DE123456789"),
        buyer=Party(buyer_name, ["2 Engine Street", "London"], "GB", "ada@example.com", "GB999999973"),
        lines=lines,
        net_minor=net,
        tax_minor=tax,
        total_minor=net + tax,
        due_date=date(2026, 12, 23),
        payment_reference="RF18INV2026000042",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        terms="Net 30 days",
        deliveries=["Shipment S1: DHL JD0001, dispatched 2026-11-20"],
        delivered_on=date(2026, 11, 20),
    )


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize(
    ("currency", "prices", "total"),
    [
        ("JPY", [("1500", 3, "10", 4500, 450)], "4950"),
        ("USD", [("19.99", 2, "10", 3998, 400), ("5.00", 1, "0", 500, 0)], "48.98"),
        ("KWD", [("1.250", 3, "5", 3750, 188)], "3.938"),
    ],
)
def test_pdf_and_ubl_parse_back(currency: str, prices: list[tuple[str, int, str, int, int]], total: str) -> None:
    doc = document(currency, prices)
    text = pdf_text(render_pdf(doc))
    for fact in (
        "INV-2026-000042",
        "Due 2026-12-23",
        "RF18INV2026000042",
        "DE89370400440532013000",
        "Net 30 days",
        "Shipment S1: DHL JD0001",
        "billing@seller.example",
        f"{total} {currency}",
    ):
        assert fact.replace(",", "") in text.replace(",", ""), fact
    root = ET.fromstring(render_ubl(doc))
    assert root.tag == f"{{{ubl.UBL_INVOICE}}}Invoice"
    assert root.findtext("cbc:CustomizationID", namespaces=NS) == ubl.EN16931
    assert root.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "380"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == "RF18INV2026000042"
    totals = root.find("cac:LegalMonetaryTotal", NS)
    assert totals is not None
    line_sum = sum(Decimal(x.text or "") for x in root.findall("cac:InvoiceLine/cbc:LineExtensionAmount", NS))
    tax = Decimal(root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS) or "")
    assert line_sum == Decimal(totals.findtext("cbc:LineExtensionAmount", namespaces=NS) or "")  # BR-CO-10
    assert Decimal(totals.findtext("cbc:TaxInclusiveAmount", namespaces=NS) or "") == line_sum + tax  # BR-CO-15
    payable = totals.find("cbc:PayableAmount", NS)
    assert payable is not None and payable.text == total and payable.get("currencyID") == currency
    subtotal_tax = sum(Decimal(x.text or "") for x in root.findall("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", NS))
    assert subtotal_tax == tax  # BR-CO-14


def test_pdf_without_a_unicode_font_folds_what_latin1_cannot_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "UNICODE_FONTS", ())
    text = pdf_text(render_pdf(document("USD", [("1.00", 1, "0", 100, 0)], buyer_name="Łukasz Żółć 李")))
    assert "Lukasz Zólc ?" in text


def test_pdf_with_a_unicode_font_keeps_every_letter() -> None:
    if not any(font.exists() for font in pdf.UNICODE_FONTS):
        pytest.skip("SKIPPED: no DejaVu font on this machine, so PDFs fold to Latin-1 (tested above)")
    assert "Łukasz Żółć" in pdf_text(render_pdf(document("USD", [("1.00", 1, "0", 100, 0)], "Łukasz Żółć")))


def test_same_document_same_bytes() -> None:
    doc = document("USD", [("19.99", 2, "10", 3998, 400)])
    assert render_pdf(doc) == render_pdf(doc)


# ------------------------------------------------------------------------------------ numbering


def test_numbers_stay_gapless_under_concurrent_invoicing(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve orders invoiced by twelve threads at once, one of which fails after taking its number: the
    failure gives its number back, and the series is 1..11 with no gap and no duplicate."""
    add_customer(database, limit_minor=None)
    for n in range(12):
        add_shipped_order(database, f"O{n}", [("WIDGET", 1, "10.00", "10")])
    invoicing = InvoicingActivities(database.engine, Settings(database_url=database.url))
    from activities.invoicing import invoices as module

    real_audit = module.audit

    def failing_for_o7(session: Any, key: str, order_id: str | None, *rest: Any) -> None:
        if order_id == "O7":
            raise RuntimeError("disk full while writing the audit trail")
        real_audit(session, key, order_id, *rest)

    monkeypatch.setattr(module, "audit", failing_for_o7)
    barrier = threading.Barrier(12)
    errors: list[str] = []

    def issue(order_id: str) -> None:
        barrier.wait(timeout=10)
        try:
            ActivityEnvironment().run(
                invoicing.issue_invoice,
                IssueInvoice(order_id=order_id, invoice_key="order", shipment_ids=["S1"], issued_on=date(2026, 11, 23)),
            )
        except RuntimeError as exc:
            errors.append(f"{order_id}: {exc}")

    threads = [threading.Thread(target=issue, args=(f"O{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == ["O7: disk full while writing the audit trail"]
    with Session(database.engine) as session:
        numbers = sorted(session.exec(select(Invoice.number)).all())
        assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 12)]
        assert session.exec(select(func.count()).select_from(ArchivedDocument)).one() == 11
        assert session.exec(select(Invoice).where(Invoice.order_id == "O7")).first() is None


def test_a_document_not_archived_by_its_attempt_is_archived_by_the_retry(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The document is rendered after the invoice's commit (outside SQLite's single writer). An attempt that
    dies in between leaves the invoice booked under its number; the retry archives its document, same
    number, nothing booked twice."""
    add_customer(database, limit_minor=None)
    add_shipped_order(database, "O1", [("WIDGET", 2, "10.00", "10")])
    invoicing = InvoicingActivities(database.engine, Settings(database_url=database.url))
    from activities.documents import archive as archive_module

    real_rendered = archive_module.rendered

    def crash(_: Any) -> Any:
        raise RuntimeError("worker killed while rendering")

    monkeypatch.setattr(archive_module, "rendered", crash)
    request = IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=date(2026, 11, 23))
    with pytest.raises(RuntimeError, match="rendering"):
        ActivityEnvironment().run(invoicing.issue_invoice, request)
    with Session(database.engine) as session:
        assert session.exec(select(Invoice.number)).all() == ["INV-2026-000001"]
        assert session.exec(select(func.count()).select_from(ArchivedDocument)).one() == 0
    monkeypatch.setattr(archive_module, "rendered", real_rendered)
    issued = ActivityEnvironment().run(invoicing.issue_invoice, request)
    assert issued.number == "INV-2026-000001"
    with Session(database.engine) as session:
        assert session.exec(select(Invoice.number)).all() == ["INV-2026-000001"]
        document = session.get(ArchivedDocument, "INV-2026-000001")
        assert document is not None and document.pdf.startswith(b"%PDF")
        assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == 3


def test_a_new_year_starts_a_new_series(database: Database) -> None:
    add_customer(database, limit_minor=None)
    add_shipped_order(database, "O1", [("WIDGET", 1, "10.00", "0")])
    add_shipped_order(database, "O2", [("WIDGET", 1, "10.00", "0")])
    invoicing = InvoicingActivities(database.engine, Settings(database_url=database.url))
    env = ActivityEnvironment()
    first = env.run(
        invoicing.issue_invoice,
        IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=date(2026, 12, 31)),
    )
    again = env.run(
        invoicing.issue_invoice,
        IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=date(2026, 12, 31)),
    )
    second = env.run(
        invoicing.issue_invoice,
        IssueInvoice(order_id="O2", invoice_key="order", shipment_ids=["S1"], issued_on=date(2027, 1, 1)),
    )
    assert (first.number, again.number, second.number) == ("INV-2026-000001", "INV-2026-000001", "INV-2027-000001")
    assert is_valid_rf_reference(first.payment_reference)


# ------------------------------------------------------------------------------- email, once


class FlakySendGrid(RecordingSendGrid):
    """Fails its first call the way SendGrid fails under load (HTTP 503), then works."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def send(self, mail: Any) -> Any:
        from python_http_client.exceptions import HTTPError

        self.calls += 1
        if self.calls == 1:
            raise HTTPError(503, "Service Unavailable", b"try later", {})
        return super().send(mail)


def test_invoice_email_sent_once_with_its_documents_even_when_retried(database: Database) -> None:
    add_customer(database, limit_minor=None)
    add_shipped_order(database, "O1", [("WIDGET", 2, "19.99", "10")])
    settings = Settings(database_url=database.url)
    invoice = ActivityEnvironment().run(
        InvoicingActivities(database.engine, settings).issue_invoice,
        IssueInvoice(order_id="O1", invoice_key="order", shipment_ids=["S1"], issued_on=date(2026, 11, 23)),
    )
    mail = FlakySendGrid()
    email = EmailActivities(database.engine, settings, mail)  # type: ignore[arg-type]
    request = SendEmail(
        key=f"O1:invoice:{invoice.number}", order_id="O1", kind=EmailKind.INVOICE, invoice_number=invoice.number
    )
    with pytest.raises(ApplicationError, match="SendGrid answered 503"):
        ActivityEnvironment().run(email.send_email, request)  # attempt 1: SendGrid down, retryable
    second = ActivityEnvironment().run(email.send_email, request)  # attempt 2: sent
    third = ActivityEnvironment().run(email.send_email, request)  # a late retry: nothing more
    assert (second.already_sent, third.already_sent) == (False, True)
    assert len(mail.sent) == 1
    # A worker that died after SendGrid's 202 but before writing "sent" leaves the row "sending": the
    # retry finds the message in SendGrid's Email Activity under its key instead of sending it again.
    with transaction(database.engine) as session:
        row = session.get(EmailOutbox, request.key)
        assert row is not None
        row.status = "sending"
        session.add(row)
    after_crash = ActivityEnvironment().run(email.send_email, request)
    assert (after_crash.already_sent, after_crash.message_id, len(mail.sent)) == (True, "msg-1", 1)
    files = {a["filename"]: base64.b64decode(a["content"]) for a in mail.sent[0]["attachments"]}
    assert set(files) == {f"{invoice.number}.pdf", f"{invoice.number}.xml"}
    assert invoice.number in pdf_text(files[f"{invoice.number}.pdf"])
    assert ET.fromstring(files[f"{invoice.number}.xml"]).findtext("cbc:ID", namespaces=NS) == invoice.number
    with Session(database.engine) as session:
        archived = session.get(ArchivedDocument, invoice.number)
        assert archived is not None and archived.pdf == files[f"{invoice.number}.pdf"]


# --------------------------------------------------------------------- through the workflow


def ship(shipment_id: str, *lines: tuple[str, int]) -> ShipmentDispatched:
    return ShipmentDispatched(
        shipment_id=shipment_id,
        lines=[ShippedLine(sku=sku, quantity=qty) for sku, qty in lines],
        carrier="UPS",
        tracking_number=f"1Z{shipment_id}",
    )


def paid(payment_id: str, amount: Decimal) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id,
        amount=amount,
        currency="USD",
        method=PaymentChannel.BANK_TRANSFER,
        received_at=datetime.now(UTC),
    )


def attachments(mail: RecordingSendGrid, subject_start: str) -> list[dict[str, bytes]]:
    """Attachments of the emails whose subject starts so (reminders, which time skipping may bring, aside)."""
    return [
        {a["filename"]: base64.b64decode(a["content"]) for a in m.get("attachments", [])}
        for m in mail.sent
        if m["subject"].startswith(subject_start) and "overdue" not in m["subject"]
    ]


async def test_credit_note_charge_and_resend(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order(lines=[("WIDGET", 2, "100.00"), ("GADGET", 1, "50.00")])  # 10% tax: 275.00
    async with running_worker(time_env.client, database, task_queue) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, ship("S1", ("WIDGET", 2), ("GADGET", 1)))
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        invoice = view.invoices[0].number
        await o2c.open_dispute(
            order.order_id, {"dispute_id": "D1", "amount": "55.00", "by": "ar", "reason": "one widget scratched"}
        )
        await o2c.resolve_dispute(order.order_id, {"dispute_id": "D1", "outcome": "credit_note", "by": "ar"})
        await eventually(handle, lambda s: s.totals.credited == Decimal("55.00"), "credited")
        result = await o2c.add_charge(
            order.order_id,
            {
                "charge_id": "RUSH",
                "description": "Express delivery surcharge",
                "amount": "20.00",
                "tax_rate_percent": "10",
                "by": "ops",
                "reason": "customer asked for express",
            },
        )
        assert result.accepted
        view = await eventually(handle, lambda s: len(s.invoices) == 2, "charge invoiced")
        charge = view.invoices[1]
        assert charge.total == Decimal("22.00")
        assert view.invoices[0].total == Decimal("275.00")  # the sent invoice is never edited
        first = await o2c.resend_document({"number": invoice, "by": "jane", "request_id": "R1"})
        again = await o2c.resend_document({"number": invoice, "by": "jane", "request_id": "R1"})
        assert again == first  # the same request answers the same; one email (counted below)
        other = await o2c.resend_document(
            {
                "number": "CN-" + str(view.invoices[0].issued_on.year) + "-000001",
                "by": "jane",
                "to": "auditor@example.com",
            }
        )
        assert not other.already_sent
        with pytest.raises(InvalidInput, match="no issued invoice or credit note INV-1999-000001"):
            await o2c.resend_document({"number": "INV-1999-000001", "by": "jane"})
        await o2c.payment_received(order.order_id, paid("P1", view.totals.due))
        outcome = await handle.result()
        await keep_history(handle, "credit_note_and_charge")
        await keep_history(time_env.client.get_workflow_handle(f"resend-{invoice}-R1"), "resend_document")
    assert outcome.status == OrderStatus.PAID
    year = view.invoices[0].issued_on.year
    note_number = f"CN-{year}-000001"
    with Session(database.engine) as session:
        note = session.get(CreditNote, note_number)
        assert note is not None
        assert (note.invoice_number, note.total_minor, note.net_minor, note.tax_minor) == (invoice, 5500, 5000, 500)
        tax_reversed = session.exec(
            select(LedgerEntry.debit_minor).where(
                LedgerEntry.journal == f"credit_note:{note_number}", LedgerEntry.account == "2200-tax-payable"
            )
        ).one()
        assert tax_reversed == 500
        charge_lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_number == charge.number)).all()
        assert [(x.sku, x.net_minor, x.tax_minor) for x in charge_lines] == [("CHARGE", 2000, 200)]
        balance = session.exec(select(func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor))).one()
        assert balance == 0
        kinds = session.exec(select(Invoice.kind).order_by(col(Invoice.number))).all()
        assert kinds == ["goods", "charge"]
    invoices_sent = attachments(mail, "Invoice ")
    assert [sorted(files) for files in invoices_sent] == [
        [f"{invoice}.pdf", f"{invoice}.xml"],
        [f"{charge.number}.pdf", f"{charge.number}.xml"],
    ]
    notes_sent = attachments(mail, f"Credit note {note_number}")
    assert len(notes_sent) == 2  # when issued, and once resent to the auditor
    credit_xml = ET.fromstring(notes_sent[0][f"{note_number}.xml"])
    assert credit_xml.tag == f"{{{ubl.UBL_CREDIT_NOTE}}}CreditNote"
    assert credit_xml.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == invoice
    assert "one widget scratched" in pdf_text(notes_sent[0][f"{note_number}.pdf"])
    copies = attachments(mail, f"Copy of invoice {invoice}")
    assert len(copies) == 1 and sorted(copies[0]) == [f"{invoice}.pdf", f"{invoice}.xml"]
    assert [
        m["personalizations"][0]["to"][0]["email"] for m in mail.sent if m["subject"].startswith("Credit note")
    ] == [
        "ada@example.com",
        "auditor@example.com",
    ]


async def test_a_charge_before_anything_is_invoiced_is_refused(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    order = sample_order()
    async with running_worker(time_env.client, database, task_queue):
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await eventually(handle, lambda s: s.status == OrderStatus.AWAITING_SHIPMENT, "approved")
        with pytest.raises(DecisionRefused, match="nothing is invoiced yet"):
            await o2c.add_charge(
                order.order_id,
                {"charge_id": "X", "description": "Handling fee", "amount": "5", "by": "ops", "reason": "handling"},
            )
        with pytest.raises(DecisionRefused, match="more decimals than USD allows"):
            await o2c.add_charge(
                order.order_id,
                {"charge_id": "X", "description": "Handling fee", "amount": "5.001", "by": "ops", "reason": "handling"},
            )
        await o2c.cancel_order(order.order_id, {"by": "test", "reason": "clean up"})
        await handle.result()


def test_latin1_documents_use_the_built_in_font_and_keep_their_letters() -> None:
    """Embedding DejaVu is only for text Latin-1 cannot hold: most invoices need no font file at all."""
    plain = render_pdf(document("EUR", [("1.00", 1, "0", 100, 0)], buyer_name="Jürgen Müller Façade"))
    assert b"/FontFile2" not in plain and b"DejaVu" not in plain
    assert "Jürgen Müller Façade" in pdf_text(plain)
    if any(font.exists() for font in pdf.UNICODE_FONTS):
        assert b"/FontFile2" in render_pdf(document("EUR", [("1.00", 1, "0", 100, 0)], buyer_name="Łukasz"))
