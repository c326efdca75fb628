"""The XML for machines: EN 16931 core elements in UBL 2.1 syntax."""

import xml.etree.ElementTree as ET
from decimal import Decimal

from activities.documents.model import BillingDocument, Party

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EN16931 = "urn:cen.eu:en16931:2017"
ET.register_namespace("cac", CAC)
ET.register_namespace("cbc", CBC)


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
