"""The PDF for people (fpdf2): DejaVu Sans when a document needs more than Latin-1, else Helvetica."""

import dataclasses
import unicodedata
from datetime import UTC, datetime, time
from pathlib import Path

from fpdf import FPDF

from activities.documents.model import BillingDocument

UNICODE_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/TTF/DejaVuSans.ttf"))

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
