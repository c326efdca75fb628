"""Console pages: customers. The list, searched by id, name, email or VAT id (a prefix, in any case) with
each row's balances summed for the customers on the page only; the customer 360, read section by section,
each section paged on its own; the master data changed through ``CustomerMasterChange`` exactly as
``o2c finance customer set`` changes it; and the documents as issued, served byte for byte."""

import re
import string
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Engine, case, desc, func, literal, or_, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from activities.customers import current_values
from models.contract import RiskClass
from models.tables import (
    ArchivedDocument,
    AuditEntry,
    CashApplication,
    CashReceipt,
    ContactNote,
    CreditDecision,
    CreditNote,
    Customer,
    CustomerChange,
    Dispute,
    EmailOutbox,
    Invoice,
    Order,
)
from o2c.access import Permission
from o2c.client import O2CError
from o2c.platform.db import is_postgres, snapshot
from o2c.platform.policies import load_credit_rules
from o2c.reporting.customer_report import customer_report
from o2c.web.console.pages import (
    Endpoint,
    Paged,
    amount_field,
    current_user,
    flash,
    form,
    page_number,
    paged,
    read,
    render,
    requires,
    state,
    text,
)
from o2c.web.console.queues import Queue

QUEUES: list[Queue] = []
PER_PAGE = 25
SECTION_ROWS = 10
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def starts_with(postgres: bool, expression: Any, prefix: str) -> Any:
    """A prefix match an index answers. PostgreSQL: ``LIKE 'prefix%'`` (backslash escapes), which a
    ``text_pattern_ops``/``varchar_pattern_ops`` index serves whatever the database's collation. SQLite
    compares text bytewise (UTF-8, so in code point order): the prefix is a range of a plain index."""
    if postgres:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return expression.like(escaped + "%")
    return (expression >= prefix) & (expression < prefix + "\U0010ffff")


def search_customers(engine: Engine, term: str, page: int) -> Paged:
    """One page of customers by name, and for those only their open and overdue balances per currency."""
    postgres = is_postgres(engine)
    query, customers = select(Customer), Customer
    if term:
        # SQLite's lower() folds ASCII letters only: fold the search term the same way there.
        needle = term.lower() if postgres else term.translate(_ASCII_LOWER)
        searched = (Customer.id, Customer.name, Customer.email, Customer.vat_id)
        query, customers = materialized(
            Customer, or_(*(starts_with(postgres, func.lower(c), needle) for c in searched))
        )
    query = query.order_by(customers.name, customers.id).offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)
    with snapshot(engine) as session:
        found = paged(session.exec(query).all(), page, PER_PAGE)
        found.extra["balances"] = _balances(session, [customer.id for customer in found.items])
    return found


def _balances(session: Session, customer_ids: list[str]) -> dict[str, list[tuple[str, int, int]]]:
    """(currency, open, overdue) per customer: overdue is past its due date today, as the aging report's
    buckets count it."""
    if not customer_ids:
        return {}
    today = datetime.now(UTC).date()
    overdue = case((col(Invoice.due_date) < today, Invoice.open_minor), else_=0)
    rows = session.exec(
        select(Invoice.customer_id, Invoice.currency, func.sum(Invoice.open_minor), func.sum(overdue))
        .where(col(Invoice.customer_id).in_(customer_ids), Invoice.open_minor > 0)
        .group_by(col(Invoice.customer_id), col(Invoice.currency))
        .order_by(col(Invoice.currency))
    ).all()
    balances: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for customer_id, currency, open_minor, overdue_minor in rows:
        balances[customer_id].append((currency, int(open_minor), int(overdue_minor)))
    return balances


@requires(Permission.VIEW)
async def customer_list(request: Request) -> Response:
    term = request.query_params.get("q", "").strip()[:100]
    found = await read(request, search_customers, term, page_number(request))
    links = pager(request, "page", found)
    return render(request, "customers/list.html", {"title": "Customers", "q": term, "found": found, "links": links})


# ------------------------------------------------------------------------------------------- the 360

SECTIONS = (
    "open_invoices",
    "paid_invoices",
    "credit_notes",
    "receipts",
    "applications",
    "promises",
    "disputes",
    "emails",
    "decisions",
    "audit",
    "changes",
)


def materialized(model: Any, *conditions: Any) -> tuple[Any, Any]:
    """The rows of ``model`` that meet any of ``conditions`` (each matching rows no other does), read in full
    before they are ordered, and the entity to order them by. Left to order and limit them itself,
    PostgreSQL walks a whole table's index in order for the first few of a large customer's rows (1.6 s on
    cash applications for a customer of 20,000 orders); and an OR of IN-subqueries it reads by a full scan,
    where a UNION ALL of one indexed query per condition does not."""
    queries = [select(model).where(condition) for condition in conditions]
    rows = aliased(model, (union_all(*queries) if len(queries) > 1 else queries[0]).cte().prefix_with("MATERIALIZED"))
    return select(rows), rows


def _section_queries(customer_id: str, postgres: bool) -> dict[str, Any]:
    """Each section of the 360, newest first, every one on an indexed column: the customer's own rows by
    ``customer_id``, their orders' by ``order_id``, and what concerns the customer without an order (master
    changes, contact notes, statements) by the keys those are written under (exactly, or by prefix with ``order_id IS
    NULL``, the predicate of the partial indexes on those keys)."""
    orders = select(Order.id).where(Order.customer_id == customer_id)
    change_emails = select(literal(f"customer:{customer_id}:") + col(CustomerChange.change_id) + literal(":billing"))
    change_audits = select(literal("customer-change:") + col(CustomerChange.change_id))
    contact_audits = select(literal("contact:") + col(ContactNote.note_id)).where(
        ContactNote.customer_id == customer_id, col(ContactNote.order_id).is_(None)
    )
    mine = CustomerChange.customer_id == customer_id
    invoices = select(Invoice).where(Invoice.customer_id == customer_id)
    newest_invoices = (desc(col(Invoice.issued_on)), desc(col(Invoice.number)))
    applications, applications_of = materialized(CashApplication, col(CashApplication.order_id).in_(orders))
    emails, emails_of = materialized(
        EmailOutbox,
        col(EmailOutbox.order_id).in_(orders),
        col(EmailOutbox.key).in_(change_emails.where(mine)),
        col(EmailOutbox.order_id).is_(None) & starts_with(postgres, col(EmailOutbox.key), f"statement:{customer_id}:"),
    )
    audit, audit_of = materialized(
        AuditEntry,
        col(AuditEntry.order_id).in_(orders),
        col(AuditEntry.dedupe_key).in_(change_audits.where(mine)),
        col(AuditEntry.order_id).is_(None) & col(AuditEntry.dedupe_key).in_(contact_audits),
        col(AuditEntry.order_id).is_(None)
        & starts_with(postgres, col(AuditEntry.dedupe_key), f"audit:statement:{customer_id}:"),
    )
    return {
        "open_invoices": invoices.where(Invoice.open_minor > 0).order_by(*newest_invoices),
        "paid_invoices": invoices.where(Invoice.open_minor <= 0).order_by(*newest_invoices),
        "credit_notes": select(CreditNote)
        .where(CreditNote.customer_id == customer_id)
        .order_by(desc(col(CreditNote.issued_on)), desc(col(CreditNote.number))),
        "receipts": select(CashReceipt)
        .where(CashReceipt.customer_id == customer_id)
        .order_by(desc(col(CashReceipt.booked_on)), desc(col(CashReceipt.id))),
        "applications": applications.order_by(desc(applications_of.id)),
        "promises": select(ContactNote)
        .where(ContactNote.customer_id == customer_id)
        .order_by(desc(col(ContactNote.id))),
        "disputes": select(Dispute, Order.currency)
        .join(Order, col(Order.id) == col(Dispute.order_id))
        .where(Order.customer_id == customer_id)
        .order_by(desc(col(Dispute.opened_at)), desc(col(Dispute.id))),
        "emails": emails.order_by(desc(emails_of.created_at), desc(emails_of.key)),
        "decisions": select(CreditDecision)
        .where(CreditDecision.customer_id == customer_id)
        .order_by(desc(col(CreditDecision.id))),
        "audit": audit.order_by(desc(audit_of.id)),
        "changes": select(CustomerChange).where(mine).order_by(desc(col(CustomerChange.id))),
    }


def customer_sections(engine: Engine, customer_id: str, pages: dict[str, int]) -> dict[str, Paged]:
    queries = _section_queries(customer_id, is_postgres(engine))
    with snapshot(engine) as session:
        return {
            key: paged(
                session.exec(queries[key].offset((pages[key] - 1) * SECTION_ROWS).limit(SECTION_ROWS + 1)).all(),
                pages[key],
                SECTION_ROWS,
            )
            for key in SECTIONS
        }


def _section_page(request: Request, key: str) -> int:
    raw = request.query_params.get(key, "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def pager(request: Request, key: str, found: Paged, anchor: str = "") -> dict[str, str]:
    """Links to the previous and next page of a list paged by the query parameter ``key``; the rest of the
    query (a search, the other sections' pages) stays as it was."""

    def link(number: int) -> str:
        return f"{request.url.path}?{urlencode(dict(request.query_params) | {key: str(number)})}{anchor}"

    return {
        name: link(number)
        for name, number, shown in (
            ("previous", found.page - 1, found.page > 1),
            ("next", found.page + 1, found.has_next),
        )
        if shown
    }


def _not_found(request: Request, what: str) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": f"There is no {what}."}, 404)


@requires(Permission.VIEW)
async def customer_360(request: Request) -> Response:
    customer_id = request.path_params["customer_id"]
    rules = load_credit_rules(state(request).settings)
    report = await read(request, customer_report, customer_id, rules)
    if report is None:
        return _not_found(request, f"customer {customer_id}")
    pages = {key: _section_page(request, key) for key in SECTIONS}
    sections = await read(request, customer_sections, customer_id, pages)
    context = {
        "title": report["customer"]["name"],
        "report": report,
        "master": report["customer"],
        "rules": rules,
        "sections": sections,
        "pagers": {key: pager(request, key, section, f"#{key}") for key, section in sections.items()},
    }
    return render(request, "customers/show.html", context)


# --------------------------------------------------------------------------------- the master data

TEXT_FIELDS = {
    "name": "Name",
    "email": "Email",
    "billing_name": "Billing name",
    "billing_email": "Billing email",
    "billing_address": "Billing address",
    "vat_id": "VAT id",
    "dunning_segment": "Dunning segment",
}


def _master(engine: Engine, customer_id: str) -> dict[str, str | None] | None:
    with snapshot(engine) as session:
        customer = session.get(Customer, customer_id)
        return None if customer is None else current_values(customer)


def changed_fields(current: dict[str, str | None], data: Any) -> dict[str, Any]:
    """What the form changes, and only that, as ``ChangeCustomer`` fields; a field not posted is not
    changed. The master keeps a value once set (a change cannot blank it): an emptied field is refused
    rather than silently kept."""
    change: dict[str, Any] = {}
    for name, label in TEXT_FIELDS.items():
        value = text(data, name)
        if name not in data or value == (current[name] or ""):
            continue
        if not value:
            raise ValueError(f"{label} cannot be emptied: the customer master keeps a value once set")
        change[name] = value
    for name in ("currency", "risk_class"):
        value = text(data, name).upper() if name == "currency" else text(data, name)
        if value and value != current[name]:
            change[name] = value
    limit = amount_field(data, "credit_limit")
    was = None if current["credit_limit"] is None else Decimal(current["credit_limit"] or "0")
    # A limit is given in the customer's currency: a new currency needs the limit with it.
    if limit is not None and (limit != was or "currency" in change):
        change["credit_limit"] = str(limit)
    blocked = text(data, "blocked")
    if blocked in ("true", "false") and blocked != current["blocked"]:
        change["blocked"] = blocked == "true"
    return change


def _url(customer_id: str, then: str = "") -> str:
    return f"/customers/{quote(customer_id, safe='')}{then}"


@requires(Permission.EDIT_CUSTOMER)
async def edit_customer(request: Request) -> Response:
    customer_id = request.path_params["customer_id"]
    current = await read(request, _master, customer_id)
    if current is None:
        return _not_found(request, f"customer {customer_id}")
    if request.method == "GET":
        context = {"title": f"Edit {current['name']}", "customer_id": customer_id, "values": current}
        return render(request, "customers/edit.html", context | {"risk_classes": [r.value for r in RiskClass]})
    data = await form(request)
    try:
        change = changed_fields(current, data)
    except ValueError as exc:
        flash(request, "error", str(exc))
        return RedirectResponse(_url(customer_id, "/edit"), 303)
    if not change:
        flash(request, "info", "Nothing differed from the master: nothing was changed.")
        return RedirectResponse(_url(customer_id), 303)
    user = current_user(request)
    assert user is not None, "behind requires()"
    change |= {
        "customer_id": customer_id,
        "by": user.username,
        "change_id": text(data, "request_id") or None,
        "reason": text(data, "reason"),
    }
    try:
        result = await state(request).client().change_customer(change)
    except O2CError as exc:
        flash(request, "error", str(exc))
        return RedirectResponse(_url(customer_id, "/edit"), 303)
    fields = ", ".join(c.field for c in result.changes) or "nothing (the master already had these values)"
    told = " Accounts receivable were told." if result.accounts_receivable_notified else ""
    flash(request, "ok", f"Changed {fields} (change {result.change_id}).{told}")
    return RedirectResponse(_url(customer_id), 303)


# ----------------------------------------------------------------------------------------- documents

FORMATS = {"pdf": ("pdf", "application/pdf"), "xml": ("ubl", "application/xml")}


def _document(engine: Engine, number: str, column: str) -> bytes | None:
    with snapshot(engine) as session:
        content = session.exec(
            select(getattr(ArchivedDocument, column)).where(ArchivedDocument.number == number)
        ).first()
    return None if content is None else bytes(content)


def _download(extension: str) -> Endpoint:
    column, media_type = FORMATS[extension]

    @requires(Permission.VIEW)
    async def download(request: Request) -> Response:
        """The invoice or credit note exactly as it was issued and emailed (``billing_documents``)."""
        number = request.path_params["number"]
        content = await read(request, _document, number, column)
        if content is None:
            return _not_found(request, f"document {number}")
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", number) + f".{extension}"
        disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(content, media_type=media_type, headers=disposition)

    return download


routes: list[Route] = [
    Route("/customers", customer_list, name="customers"),
    Route("/customers/{customer_id}", customer_360, name="customer"),
    Route("/customers/{customer_id}/edit", edit_customer, methods=["GET", "POST"], name="edit_customer"),
    Route("/documents/{number}.pdf", _download("pdf"), name="document_pdf"),
    Route("/documents/{number}.xml", _download("xml"), name="document_xml"),
]
