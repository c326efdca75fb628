"""Collections: dunning steps from the policy (reminders, fees, escalation), promises to pay checked when
they fall due, disputes, write-offs and credit notes."""

from temporalio import workflow

from workflows.calls import ADJUST_BALANCE, DUNNING_STEP, RAISE_LATE_FEE, RECORD_EVENT

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        AdjustBalance,
        AdjustmentKind,
        DisputeRecord,
        DunningStepRun,
        EmailKind,
        OrderEvent,
        RaiseLateFee,
    )
    from models.contract import ResolveDispute, WriteOff
    from models.policy import DunningAction, DunningStep
    from workflows.order.core import OrderProcess
    from workflows.order.invoicing import send_invoice


async def dunning_step(p: OrderProcess, invoice_number: str, step: DunningStep) -> None:
    invoice = p.book.invoices[invoice_number]
    p.schedule.step_done(invoice_number, step)
    if invoice.open_minor == 0:
        return
    run = DunningStepRun(
        order_id=p.order_id,
        invoice_number=invoice_number,
        step_name=step.name,
        level=step.level,
        template=step.template,
        escalate=DunningAction.ESCALATE in step.actions,
        amount_due_minor=invoice.open_minor,
        due_date=invoice.issued.due_date,
        remind=DunningAction.REMIND in step.actions,
        block_credit=DunningAction.BLOCK_CREDIT in step.actions,
    )
    await p.step(DUNNING_STEP, run, f"dunning {step.name} for {invoice_number}")
    p.book.dunning_level = max(p.book.dunning_level, step.level)
    p.note("dunning", f"{step.name} (level {step.level}) for {invoice_number}: {p.money(invoice.open_minor)}")
    if step.late_fee is not None and invoice.issued.kind == "goods":  # no fee on a fee
        fee = RaiseLateFee(
            order_id=p.order_id,
            invoice_number=invoice_number,
            step_name=step.name,
            late_fee=step.late_fee,
            on=workflow.now().date(),
        )
        raised = await p.step(RAISE_LATE_FEE, fee, f"late fee on {invoice_number}")
        if raised.invoice is not None and raised.invoice.number not in p.book.invoices:
            p.book.add_invoice(raised.invoice, [])
            await send_invoice(p, raised.invoice)


async def check_promise(p: OrderProcess) -> None:
    promise = p.book.promise
    assert promise is not None
    p.schedule.promises_checked.add(promise.promised_date)
    p.book.promise = None
    if p.book.paid_minor >= p.book.minor(promise.amount):
        p.note("promise_kept", str(promise.promised_date))
        return
    p.note("promise_broken", f"{promise.amount} promised for {promise.promised_date}", refused=True)
    invoice = p.book.oldest_open_invoice()
    if invoice is not None:
        await dunning_step(p, invoice.number, p.schedule.escalation())


async def write_off(p: OrderProcess, command: WriteOff) -> None:
    amount = p.book.minor(command.amount) if command.amount else p.book.amount_due_minor
    p.write_offs += 1
    await adjust(p, AdjustmentKind.WRITE_OFF, amount, command.reason, command.by, f"write-off:{p.write_offs}")


async def record_dispute(p: OrderProcess, dispute_id: str, status: str, by: str, reason: str) -> None:
    dispute = p.book.disputes[dispute_id]
    record = DisputeRecord(
        dispute_id=dispute_id, amount_minor=dispute.amount_minor, reason=dispute.reason, status=status, by=by
    )
    event = OrderEvent(
        order_id=p.order_id,
        event=f"dispute_{status}",
        detail=reason,
        actor=by,
        dedupe_key=f"dispute:{dispute_id}:{status}",
        dispute=record,
    )
    await p.step(RECORD_EVENT, event)


async def resolve_dispute(p: OrderProcess, command: ResolveDispute) -> None:
    dispute = p.book.disputes[command.dispute_id]
    amount = p.book.minor(command.amount) if command.amount else dispute.amount_minor
    if command.outcome.value in (AdjustmentKind.CREDIT_NOTE.value, AdjustmentKind.WRITE_OFF.value):
        kind = AdjustmentKind(command.outcome.value)
        reason = f"dispute {dispute.dispute_id}: {dispute.reason}"
        await adjust(p, kind, amount, reason, command.by, f"dispute:{dispute.dispute_id}")
    await record_dispute(p, dispute.dispute_id, command.outcome.value, command.by, command.note)


async def adjust(p: OrderProcess, kind: AdjustmentKind, amount_minor: int, reason: str, by: str, key: str) -> None:
    """A write-off or a credit note against what is open, oldest first; each credit note is emailed."""
    request = AdjustBalance(
        order_id=p.order_id,
        kind=kind,
        amount_minor=amount_minor,
        reason=reason,
        actor=by,
        dedupe_key=f"{p.order_id}:{key}",
        issued_on=workflow.now().date(),
    )
    change = await p.step(ADJUST_BALANCE, request)
    p.book.apply(change, kind.value)
    p.note(kind.value, f"{p.money(amount_minor - change.unapplied_minor)} by {by}: {reason}")
    for number, allocation in zip(change.documents, change.allocations, strict=False):
        p.note("credit_note_issued", number)
        await p.email(
            EmailKind.CREDIT_NOTE,
            f"credit-note:{number}",
            invoice_number=allocation.invoice_number,
            document_number=number,
            note=reason,
        )
