"""The customer's own account: open invoices with what is still owed and how to pay it by bank transfer,
paid invoices and credit notes page by page, and each document's archived PDF and UBL as issued."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.tables import Customer
from o2c.web.console.pages import page_number, paged
from o2c.web.portal.book import archived, credit_notes, open_invoices, paid_invoices
from o2c.web.portal.common import read, render, signed_in, state
from o2c.web.portal.standing import standings, today

PER_PAGE = 25


def _customer(request: Request) -> Customer:
    customer: Customer = request.scope["o2c.customer"]
    return customer


@signed_in
async def home(request: Request) -> Response:
    settings = state(request).settings
    customer_id = _customer(request).id
    invoices = await read(request, open_invoices, customer_id)
    orders = sorted({invoice.order_id for invoice in invoices})
    standing = await read(request, standings, customer_id, orders, today())
    totals: dict[str, int] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.open_minor
    bank = {"name": settings.seller_name, "iban": settings.seller_iban, "bic": settings.seller_bic}
    context = {"invoices": invoices, "standing": standing, "totals": sorted(totals.items()), "bank": bank}
    return render(request, "home.html", context)


@signed_in
async def paid(request: Request) -> Response:
    page = page_number(request)
    rows = await read(request, paid_invoices, _customer(request).id, page, PER_PAGE)
    return render(request, "paid.html", {"list": paged(rows, page, PER_PAGE)})


@signed_in
async def credits(request: Request) -> Response:
    page = page_number(request)
    rows = await read(request, credit_notes, _customer(request).id, page, PER_PAGE)
    return render(request, "credit_notes.html", {"list": paged(rows, page, PER_PAGE)})


@signed_in
async def document(request: Request) -> Response:
    number, extension = request.path_params["number"], request.path_params["extension"]
    found = (
        await read(request, archived, _customer(request).id, number, extension) if extension in ("pdf", "xml") else None
    )
    if found is None:
        return render(request, "error.html", {"title": "Not found", "message": "There is no such document."}, 404)
    disposition = f'attachment; filename="{found.filename}"'
    return Response(found.content, media_type=found.media_type, headers={"content-disposition": disposition})


routes = [
    Route("/portal", home),
    Route("/portal/paid", paid),
    Route("/portal/credit-notes", credits),
    Route("/portal/documents/{number}.{extension}", document),
]
