"""Talking to a person about an open invoice: disputing it (or some of its lines) with a reason, and
promising to pay it by a date. Each is the order workflow's own decision (``open_dispute``,
``promise_to_pay``) sent through ``O2CClient`` with the customer as ``by``, exactly as finance sends it;
the workflow's answer is shown as it is. A promise is also noted in the contact history with the
customer's words, as the console's collections page notes one.

Amounts are worked out here from the book, never taken from the page alone: the lines chosen are summed
from the invoice's own lines, and any amount must lie within what is still open. Every form carries the
CSRF token and a fresh request id; the request id is the workflow's idempotency key (and the dispute's
id), so a double submit is one decision."""

import re
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from temporalio.service import RPCError

from activities.collections.contacts import ContactError, record_contact
from models.money import from_minor, to_minor
from models.tables import Customer, Invoice
from o2c.client import O2CError
from o2c.web.console.pages import form, text
from o2c.web.portal.common import read, render, signed_in, state
from o2c.web.portal.standing import invoice_detail, own_invoice, today

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,55}$")  # "portal-" + it is a dispute id
MAX_WORDS = 1800  # the customer's words; the rest of the workflow's 2,000 characters names the lines
SAID = "portal.said"  # the session's key for the last answer, shown once on the invoice's page


class Refusal(Exception):
    """What the customer is told when a form cannot be passed on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _customer(request: Request) -> Customer:
    customer: Customer = request.scope["o2c.customer"]
    return customer


def by(customer: Customer) -> str:
    """Who decided, as the workflow's ``by`` (a Person) and the contact note's actor."""
    return f"customer:{customer.id}"


def _tell(request: Request, ok: bool, message: str) -> None:
    request.session[SAID] = {"ok": ok, "message": message}


def _back(number: str) -> Response:
    return RedirectResponse(f"/portal/invoices/{number}", status_code=303)


def _not_found(request: Request) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": "There is no such invoice."}, 404)


def _amount(raw: str, invoice: Invoice, what: str) -> int:
    """A typed amount in minor units, within what is still open on the invoice."""
    try:
        minor = to_minor(Decimal(raw.replace(",", "")), invoice.currency)
    except (InvalidOperation, ArithmeticError, ValueError):
        raise Refusal(f"{raw!r} is not an amount in {invoice.currency}") from None
    if minor <= 0:
        raise Refusal(f"the {what} must be more than nothing")
    if minor > invoice.open_minor:
        open_now = from_minor(invoice.open_minor, invoice.currency)
        raise Refusal(f"the {what} is more than is still open on {invoice.number} ({open_now} {invoice.currency})")
    return minor


def _request_id(data: FormData) -> str:
    request_id = text(data, "request_id")
    if not REQUEST_ID.match(request_id):
        raise Refusal("the form is out of date: reload the page and try again")
    return request_id


def _disputed(data: FormData, invoice: Invoice, lines: list[Any]) -> tuple[int, str]:
    """The disputed amount (the chosen lines' gross, a typed amount, or everything open) and what it covers."""
    chosen = {str(v) for v in data.getlist("line")}
    by_no = {str(line.line_no): line for line in lines}
    if not chosen <= by_no.keys():
        raise Refusal("a line you chose is not on this invoice")
    typed = text(data, "amount")
    if typed:
        return _amount(typed, invoice, "disputed amount"), ""
    if chosen:
        picked = [by_no[n] for n in sorted(chosen, key=int)]
        gross = sum(line.net_minor + line.tax_minor for line in picked)
        covers = ", ".join(f"line {line.line_no} ({line.sku})" for line in picked)
        if gross > invoice.open_minor:
            raise Refusal("the lines you chose come to more than is still open: enter the amount you dispute")
        return gross, covers
    return invoice.open_minor, ""


async def _send(request: Request, invoice: Invoice, name: str, fields: dict[str, Any]) -> tuple[bool, str]:
    """The order's update ``name`` with the customer as ``by``: the workflow's answer, or its refusal."""
    customer = _customer(request)
    try:
        method = getattr(state(request).client(), name)
        result = await method(invoice.order_id, fields | {"by": by(customer)})
    except O2CError as exc:
        return False, str(exc)
    except (RPCError, RuntimeError):
        return False, "We could not pass this on just now. Please try again in a few minutes."
    return result.accepted, result.message


@signed_in
async def invoice_page(request: Request) -> Response:
    number = request.path_params["number"]
    detail = await read(request, invoice_detail, _customer(request).id, number, today())
    if detail is None:
        return _not_found(request)
    said = request.session.pop(SAID, None)
    context = {"detail": detail, "said": said, "new_request_id": uuid.uuid4().hex, "today": today().isoformat()}
    return render(request, "invoice.html", context)


@signed_in
async def dispute(request: Request) -> Response:
    number, customer = request.path_params["number"], _customer(request)
    detail = await read(request, invoice_detail, customer.id, number, today())
    if detail is None:
        return _not_found(request)
    invoice, data = detail.invoice, await form(request)
    try:
        request_id = _request_id(data)
        amount, covers = _disputed(data, invoice, detail.lines)
        words = text(data, "reason")
        if len(words) < 3 or len(words) > MAX_WORDS:
            raise Refusal(f"tell us what is wrong in 3 to {MAX_WORDS} characters")
    except Refusal as refusal:
        _tell(request, False, f"Not sent: {refusal.message}.")
        return _back(number)
    reason = f"{words} (invoice {number}{': ' + covers if covers else ''})"
    fields = {
        "dispute_id": f"portal-{request_id}",
        "amount": from_minor(amount, invoice.currency),
        "reason": reason,
        "request_id": request_id,
    }
    ok, message = await _send(request, invoice, "open_dispute", fields)
    shown = from_minor(amount, invoice.currency)
    _tell(request, ok, f"Dispute of {shown} {invoice.currency}: {message}" if ok else f"Not accepted: {message}")
    return _back(number)


@signed_in
async def promise(request: Request) -> Response:
    number, customer = request.path_params["number"], _customer(request)
    invoice = await read(request, own_invoice, customer.id, number)
    if invoice is None:
        return _not_found(request)
    data = await form(request)
    try:
        request_id = _request_id(data)
        raw_day = text(data, "promised_date")
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise Refusal("the date is not a date") from None
        typed = text(data, "amount")
        amount = _amount(typed, invoice, "promised amount") if typed else invoice.open_minor
        words = text(data, "note")[:MAX_WORDS]
    except Refusal as refusal:
        _tell(request, False, f"Not sent: {refusal.message}.")
        return _back(number)
    decimal = from_minor(amount, invoice.currency)
    fields = {"promised_date": day, "amount": decimal, "note": words, "request_id": request_id}
    ok, message = await _send(request, invoice, "promise_to_pay", fields)
    if ok:
        said = f"{decimal} {invoice.currency} by {day.isoformat()}"
        note = words or f"promised to pay {said} (invoice {number})"
        try:
            await run_in_threadpool(
                record_contact,
                state(request).engine,
                request_id,
                customer.id,
                "promise",
                note,
                by(customer),
                outcome=said,
                order_id=invoice.order_id,
                follow_up_on=day,
            )
        except ContactError as exc:  # the workflow has the promise; only the note beside it is missing
            message = f"{message} (not noted: {exc})"
    _tell(request, ok, f"Promise to pay: {message}" if ok else f"Not accepted: {message}")
    return _back(number)


routes = [
    Route("/portal/invoices/{number}", invoice_page),
    Route("/portal/invoices/{number}/dispute", dispute, methods=["POST"]),
    Route("/portal/invoices/{number}/promise", promise, methods=["POST"]),
]
