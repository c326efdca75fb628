"""Invoicing: exactly what shipped (per shipment or once complete), charges billed on invoices of their own,
each emailed with its documents and charged to a card on file."""

from temporalio import workflow

from workflows.calls import ISSUE_CHARGE, ISSUE_INVOICE

with workflow.unsafe.imports_passed_through():
    import workflows.order.payments as payments
    from models.activity_io import EmailKind, InvoiceIssued, IssueCharge, IssueInvoice
    from models.contract import ON_FILE, AddCharge, InvoicingPolicy, Stage
    from workflows.order.core import OrderProcess
    from workflows.order.credit import recheck_credit


async def invoice_what_shipped(p: OrderProcess) -> None:
    if not p.book.uninvoiced_shipments:
        return
    per_shipment = p.book.order.invoicing is InvoicingPolicy.PER_SHIPMENT
    if not per_shipment and not p.book.fully_shipped:
        return
    await recheck_credit(p)
    p.book.stage = Stage.COLLECTION if p.book.fully_shipped else Stage.FULFILLMENT
    shipments = p.book.uninvoiced_shipments
    batches = [[s] for s in shipments] if per_shipment else [list(shipments)]
    for shipment_ids in batches:
        request = IssueInvoice(
            order_id=p.order_id,
            invoice_key=f"shipment:{shipment_ids[0]}" if per_shipment else "order",
            shipment_ids=shipment_ids,
            issued_on=workflow.now().date(),
            due_now=p.book.fulfillment_closed is not None,
            record_shipments=p.take_held_shipments(),
        )
        issued = await p.step(ISSUE_INVOICE, request, f"invoice {', '.join(shipment_ids)}")
        p.book.add_invoice(issued, shipment_ids)
        await send_invoice(p, issued)
    while p.prepayments:
        await payments.apply_payment(p, p.prepayments.pop(0))


async def send_invoice(p: OrderProcess, issued: InvoiceIssued) -> None:
    """A new invoice goes to the customer with its PDF; a card on file is charged for it."""
    p.note("invoiced", f"{issued.number}: {p.money(issued.total_minor)} due {issued.due_date}")
    await p.email(EmailKind.INVOICE, f"invoice:{issued.number}", invoice_number=issued.number)
    if p.book.order.payment_method in ON_FILE:
        await payments.charge(p, issued)


async def bill_charge(p: OrderProcess, command: AddCharge) -> None:
    request = IssueCharge(
        order_id=p.order_id,
        charge_key=f"charge:{command.charge_id}",
        description=command.description,
        amount_minor=p.book.minor(command.amount),
        tax_rate_percent=str(command.tax_rate_percent),
        reason=command.reason,
        actor=command.by,
        issued_on=workflow.now().date(),
    )
    issued: InvoiceIssued = await p.step(ISSUE_CHARGE, request, f"invoice charge {command.charge_id}")
    p.book.add_invoice(issued, [])
    await send_invoice(p, issued)
