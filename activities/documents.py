"""Invoice and credit-note documents: a PDF for people (fpdf2) and a UBL 2.1 / EN 16931 XML for machines.

Rendering is pure: a ``BillingDocument`` in, bytes out. The invoicing activities render once, when the
document is issued, and archive the bytes (``billing_documents``); every email and resend attaches the
archived file, so a customer always receives exactly the document that was issued.
"""

import dataclasses
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Literal

from fpdf import FPDF

from models.money import exponent, from_minor

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EN16931 = "urn:cen.eu:en16931:2017"
ET.register_namespace("cac", CAC)
ET.register_namespace("cbc", CBC)

UNICODE_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/TTF/DejaVuSans.ttf"))


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: list[str]
    country: str
    email: str
    vat_id: str | None = None


@dataclass(frozen=True)
class DocumentLine:
    line_no: int
    sku: str
    description: str
    quantity: int
    unit_price: Decimal
    discount_minor: int
    net_minor: int
    tax_rate_percent: Decimal
    tax_minor: int


@dataclass(frozen=True)
class BillingDocument:
    kind: Literal["invoice", "credit_note"]
    number: str
    issued_on: date
    currency: str
    order_id: str
    seller: Party
    buyer: Party
    lines: list[DocumentLine]
    net_minor: int
    tax_minor: int
    total_minor: int
    due_date: date | None = None
    payment_reference: str | None = None
    iban: str = ""
    bic: str = ""
    terms: str = ""
    discount_minor: int = 0
    discount_until: date | None = None
    deliveries: list[str] = field(default_factory=list)
    delivered_on: date | None = None
    credited_invoice: str | None = None
    reason: str | None = None
    payment_link: str | None = None

    @property
    def title(self) -> str:
        return "Invoice" if self.kind == "invoice" else "Credit note"

    def money(self, minor: int) -> str:
        return f"{from_minor(minor, self.currency):,.{exponent(self.currency)}f} {self.currency}"

    def amount(self, minor: int) -> str:
        """An amount as UBL writes it: plain decimal with the currency's exponent."""
        return f"{from_minor(minor, self.currency):.{exponent(self.currency)}f}"


# ----------------------------------------------------------------------------------------------- PDF

_NO_DECOMPOSITION = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "\u0131": "i", "Ħ": "H", "ħ": "h"}
)


def _latin1(char: str) -> str:
    try:
        char.encode("latin-1")
    except UnicodeEncodeError:
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        base = base.translate(_NO_DECOMPOSITION)
        return base if base and all(ord(c) < 256 for c in base) else "?"
    return char


class _Pdf(FPDF):
    def __init__(self, footer_text: str, latin1: bool = False) -> None:
        super().__init__(format="A4")
        self._footer_text = footer_text
        self.unicode = False
        # A document whose text is all Latin-1 uses the built-in Helvetica: parsing and subsetting a
        # TrueType font for every document was most of the worker's CPU (README: Performance).
        for font in () if latin1 else UNICODE_FONTS:
            if font.exists():
                self.add_font("body", "", str(font))
                self.add_font("body", "B", str(font.with_name("DejaVuSans-Bold.ttf")))
                self.unicode = True
                break

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font("body" if self.unicode else "helvetica", "B" if bold else "", size)

    def text_for(self, value: str) -> str:
        if self.unicode:
            return value
        # Core PDF fonts cover Latin-1 only: other letters lose their accents, and what is left becomes "?".
        return "".join(_latin1(c) for c in value)

    def footer(self) -> None:
        self.set_y(-15)
        self.use(7)
        self.cell(0, 5, self.text_for(self._footer_text), align="C")


def _is_latin1(value: object) -> bool:
    """Every string in the document (dataclasses and lists walked) encodes as Latin-1."""
    if isinstance(value, str):
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return False
        return True
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_is_latin1(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, list | tuple):
        return all(_is_latin1(item) for item in value)
    return True


def render_pdf(doc: BillingDocument) -> bytes:
    seller = doc.seller
    pdf = _Pdf(
        f"{seller.name} · {', '.join(seller.address_lines)} · VAT {seller.vat_id or '-'} · {seller.email}",
        latin1=_is_latin1(doc),
    )
    pdf.set_creation_date(datetime.combine(doc.issued_on, time(0), tzinfo=UTC))  # same input, same bytes
    pdf.set_title(f"{doc.title} {doc.number}")
    pdf.set_author(seller.name)
    pdf.add_page()
    t = pdf.text_for

    def line(text: str, size: float = 9, bold: bool = False, height: float = 4.6) -> None:
        pdf.use(size, bold)
        shown = t(text)
        # Most lines fit: a cell skips the line breaker, which measures character by character.
        if pdf.get_string_width(shown) + 2 * pdf.c_margin <= pdf.epw:
            pdf.cell(0, height, shown, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(0, height, shown, new_x="LMARGIN", new_y="NEXT")

    line(seller.name, 14, bold=True, height=7)
    line(" · ".join(seller.address_lines), 8)
    pdf.ln(6)
    line("Bill to", 8, bold=True)
    for text in [doc.buyer.name, *doc.buyer.address_lines, doc.buyer.email]:
        line(text)
    if doc.buyer.vat_id:
        line(f"VAT id {doc.buyer.vat_id}")
    pdf.ln(6)
    line(f"{doc.title} {doc.number}", 16, bold=True, height=8)
    facts = [f"Issued {doc.issued_on.isoformat()}", f"Order {doc.order_id}"]
    if doc.due_date:
        facts.append(f"Due {doc.due_date.isoformat()}")
    if doc.credited_invoice:
        facts.append(f"Credits invoice {doc.credited_invoice}")
    line(" · ".join(facts))
    if doc.reason:
        line(f"Reason: {doc.reason}")
    pdf.ln(4)

    widths = (26, 68, 14, 24, 16, 22, 20)
    headers = ("Item", "Description", "Qty", "Unit price", "Tax %", "Net", "Tax")
    pdf.use(8, bold=True)
    for width, header in zip(widths, headers, strict=True):
        pdf.cell(width, 6, header, border="B", align="L" if header in ("Item", "Description") else "R")
    pdf.ln()
    pdf.use(8)
    for item in doc.lines:
        cells = (
            item.sku,
            item.description[:48],
            str(item.quantity),
            f"{item.unit_price:,}",
            f"{item.tax_rate_percent.normalize():f}",
            doc.amount(item.net_minor),
            doc.amount(item.tax_minor),
        )
        for width, cell, header in zip(widths, cells, headers, strict=True):
            pdf.cell(width, 5.5, t(cell), align="L" if header in ("Item", "Description") else "R")
        pdf.ln()
        if item.discount_minor:
            pdf.cell(widths[0], 4.5, "")
            pdf.cell(widths[1], 4.5, t(f"  discount {doc.amount(item.discount_minor)}"))
            pdf.ln()
    pdf.ln(2)
    for label, minor, bold in (
        ("Net", doc.net_minor, False),
        ("Tax", doc.tax_minor, False),
        ("Total" if doc.kind == "invoice" else "Total credited", doc.total_minor, True),
    ):
        pdf.use(9, bold)
        pdf.cell(sum(widths[:5]), 6, label, align="R")
        pdf.cell(sum(widths[5:]), 6, doc.money(minor), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    if doc.kind == "invoice":
        line("Payment", 10, bold=True)
        if doc.terms:
            line(f"Terms: {doc.terms}")
        if doc.discount_minor and doc.discount_until:
            line(
                f"Pay {doc.money(doc.total_minor - doc.discount_minor)} by {doc.discount_until.isoformat()} "
                f"(early-payment discount {doc.money(doc.discount_minor)}), else {doc.money(doc.total_minor)} "
                f"by {doc.due_date.isoformat() if doc.due_date else 'the due date'}."
            )
        line(f"Bank transfer to IBAN {doc.iban} (BIC {doc.bic}), quoting the reference {doc.payment_reference}.")
        if doc.payment_link:
            line(f"Or pay online: {doc.payment_link}")
        pdf.ln(3)
    if doc.deliveries:
        line("Delivery", 10, bold=True)
        for text in doc.deliveries:
            line(text)
        pdf.ln(3)
    line(f"Questions about this {doc.title.lower()}? Write to {seller.email} and quote {doc.number}.", 8)
    return bytes(pdf.output())


# ----------------------------------------------------------------------------------------------- UBL


def _el(parent: ET.Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, role: str, party: Party) -> None:
    holder = _el(_el(parent, CAC, role), CAC, "Party")
    if party.email:
        _el(holder, CBC, "EndpointID", party.email, schemeID="EM")
    _el(_el(holder, CAC, "PartyName"), CBC, "Name", party.name)
    address = _el(holder, CAC, "PostalAddress")
    lines = party.address_lines or [""]
    _el(address, CBC, "StreetName", lines[0])
    if len(lines) > 1:
        _el(address, CBC, "AdditionalStreetName", ", ".join(lines[1:]))
    _el(_el(address, CAC, "Country"), CBC, "IdentificationCode", party.country)
    if party.vat_id:
        scheme = _el(holder, CAC, "PartyTaxScheme")
        _el(scheme, CBC, "CompanyID", party.vat_id)
        _el(_el(scheme, CAC, "TaxScheme"), CBC, "ID", "VAT")
    _el(_el(holder, CAC, "PartyLegalEntity"), CBC, "RegistrationName", party.name)
    _el(_el(holder, CAC, "Contact"), CBC, "ElectronicMail", party.email)


def _tax_category(parent: ET.Element, tag: str, rate: Decimal) -> None:
    category = _el(parent, CAC, tag)
    _el(category, CBC, "ID", "S" if rate > 0 else "Z")  # standard rate, or zero rated
    _el(category, CBC, "Percent", f"{rate.normalize():f}")
    _el(_el(category, CAC, "TaxScheme"), CBC, "ID", "VAT")


def render_ubl(doc: BillingDocument) -> bytes:
    """EN 16931 core elements in UBL 2.1 syntax: an Invoice (380) or a CreditNote (381)."""
    invoice = doc.kind == "invoice"
    root = ET.Element(f"{{{UBL_INVOICE if invoice else UBL_CREDIT_NOTE}}}{'Invoice' if invoice else 'CreditNote'}")
    ccy = {"currencyID": doc.currency}
    _el(root, CBC, "CustomizationID", EN16931)
    _el(root, CBC, "ID", doc.number)
    _el(root, CBC, "IssueDate", doc.issued_on.isoformat())
    if invoice and doc.due_date:
        _el(root, CBC, "DueDate", doc.due_date.isoformat())
    _el(root, CBC, "InvoiceTypeCode" if invoice else "CreditNoteTypeCode", "380" if invoice else "381")
    if doc.reason:
        _el(root, CBC, "Note", doc.reason)
    _el(root, CBC, "DocumentCurrencyCode", doc.currency)
    _el(root, CBC, "BuyerReference", doc.order_id)
    _el(_el(root, CAC, "OrderReference"), CBC, "ID", doc.order_id)
    if doc.credited_invoice:
        reference = _el(_el(root, CAC, "BillingReference"), CAC, "InvoiceDocumentReference")
        _el(reference, CBC, "ID", doc.credited_invoice)
    _party(root, "AccountingSupplierParty", doc.seller)
    _party(root, "AccountingCustomerParty", doc.buyer)
    if doc.delivered_on:
        _el(_el(root, CAC, "Delivery"), CBC, "ActualDeliveryDate", doc.delivered_on.isoformat())
    if invoice:
        means = _el(root, CAC, "PaymentMeans")
        _el(means, CBC, "PaymentMeansCode", "58" if doc.iban else "30")  # 58: SEPA credit transfer
        if doc.payment_reference:
            _el(means, CBC, "PaymentID", doc.payment_reference)
        account = _el(means, CAC, "PayeeFinancialAccount")
        _el(account, CBC, "ID", doc.iban)
        if doc.bic:
            _el(_el(account, CAC, "FinancialInstitutionBranch"), CBC, "ID", doc.bic)
        if doc.terms:
            _el(_el(root, CAC, "PaymentTerms"), CBC, "Note", doc.terms)
    by_rate: dict[Decimal, tuple[int, int]] = {}
    for item in doc.lines:
        taxable, tax = by_rate.get(item.tax_rate_percent, (0, 0))
        by_rate[item.tax_rate_percent] = (taxable + item.net_minor, tax + item.tax_minor)
    tax_total = _el(root, CAC, "TaxTotal")
    _el(tax_total, CBC, "TaxAmount", doc.amount(doc.tax_minor), **ccy)
    for rate, (taxable, tax) in sorted(by_rate.items()):
        subtotal = _el(tax_total, CAC, "TaxSubtotal")
        _el(subtotal, CBC, "TaxableAmount", doc.amount(taxable), **ccy)
        _el(subtotal, CBC, "TaxAmount", doc.amount(tax), **ccy)
        _tax_category(subtotal, "TaxCategory", rate)
    totals = _el(root, CAC, "LegalMonetaryTotal")
    _el(totals, CBC, "LineExtensionAmount", doc.amount(doc.net_minor), **ccy)
    _el(totals, CBC, "TaxExclusiveAmount", doc.amount(doc.net_minor), **ccy)
    _el(totals, CBC, "TaxInclusiveAmount", doc.amount(doc.total_minor), **ccy)
    _el(totals, CBC, "PayableAmount", doc.amount(doc.total_minor), **ccy)
    for item in doc.lines:
        row = _el(root, CAC, "InvoiceLine" if invoice else "CreditNoteLine")
        _el(row, CBC, "ID", str(item.line_no))
        _el(row, CBC, "InvoicedQuantity" if invoice else "CreditedQuantity", str(item.quantity), unitCode="C62")
        _el(row, CBC, "LineExtensionAmount", doc.amount(item.net_minor), **ccy)
        if item.discount_minor:
            allowance = _el(row, CAC, "AllowanceCharge")
            _el(allowance, CBC, "ChargeIndicator", "false")
            _el(allowance, CBC, "AllowanceChargeReason", "Discount")
            _el(allowance, CBC, "Amount", doc.amount(item.discount_minor), **ccy)
        product = _el(row, CAC, "Item")
        _el(product, CBC, "Name", item.description)
        _el(_el(product, CAC, "SellersItemIdentification"), CBC, "ID", item.sku)
        _tax_category(product, "ClassifiedTaxCategory", item.tax_rate_percent)
        _el(_el(row, CAC, "Price"), CBC, "PriceAmount", f"{item.unit_price:f}", **ccy)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
