"""Payments: a card (or debit mandate) on file charged, soft declines retried on the policy's days, payments
applied oldest invoice first, and money the order cannot apply queued for cash application."""

from temporalio import workflow

from workflows.calls import APPLY_PAYMENT, CHARGE_CARD, QUEUE_PAYMENT

with workflow.unsafe.imports_passed_through():
    from models.activity_io import ApplyPayment, ChargeCard, EmailKind, InvoiceIssued, QueuePayment
    from models.contract import PaymentChannel, PaymentFailed, PaymentReceived
    from models.money import from_minor
    from workflows.order.core import OrderProcess, UnappliedPayment


async def charge(p: OrderProcess, invoice: InvoiceIssued, attempt: int = 0) -> None:
    """Charges the card on file for what is open on the invoice; each attempt has its own key, minted once. A
    soft decline is retried on the policy's schedule; a hard one (or the last retry) asks the customer for
    another way to pay, and the invoice goes on through dunning like any other."""
    slot = invoice.number if attempt == 0 else f"{invoice.number}:{attempt}"
    key = p.charge_keys.setdefault(slot, str(workflow.uuid4()))
    amount = p.book.invoices[invoice.number].open_minor if attempt else invoice.total_minor
    request = ChargeCard(
        order_id=p.order_id,
        invoice_number=invoice.number,
        amount_minor=amount,
        currency=p.book.currency,
        idempotency_key=key,
    )
    summary = f"charge card for {invoice.number}" + (f" (retry {attempt})" if attempt else "")
    outcome = await p.step(CHARGE_CARD, request, summary)
    if outcome.status == "processing":
        # A bank debit settles in days: Stripe's webhook brings the payment, or the failure.
        p.pending_debits[outcome.payment_id] = invoice.number
        p.note("debit_processing", f"{outcome.payment_id}: {p.money(amount)} for {invoice.number}")
        return
    if outcome.status == "succeeded":
        paid = from_minor(amount, p.book.currency)
        p.book.payments[outcome.payment_id] = (paid, p.book.currency)  # the webhook's copy is a duplicate
        payment = PaymentReceived(
            payment_id=outcome.payment_id,
            amount=paid,
            currency=p.book.currency,
            method=PaymentChannel.CARD,
            received_at=outcome.received_at,
            reference=invoice.number,
        )
        await apply_payment(p, payment)
        return
    code = outcome.decline_code or "declined"
    p.note("card_declined", f"{code} ({outcome.decline_kind or 'unclassified'} decline)", refused=True)
    if attempt == 0 and outcome.decline_kind == "soft":
        p.schedule.plan_card_retries(invoice.number, workflow.now())
    retry_on = p.schedule.next_card_retry(invoice.number)
    if outcome.decline_kind == "soft" and retry_on is not None:
        note = f"{code}; we will try the card again on {retry_on.date()}"
    elif attempt or outcome.decline_kind:
        p.schedule.stop_card_retries(invoice.number)
        note = f"{code}; we will not charge this card again for this invoice: please pay another way"
    else:
        note = outcome.decline_code or "the card was declined"
    retry_key = f":{attempt}" if attempt else ""
    key_text = f"card-declined:{invoice.number}{retry_key}"
    await p.email(EmailKind.CARD_DECLINED, key_text, invoice_number=invoice.number, note=note)


async def retry_card(p: OrderProcess, number: str) -> None:
    attempt = p.schedule.take_card_retry(number)
    invoice = p.book.invoices[number]
    if invoice.open_minor == 0 or p.book.open_disputes:
        p.schedule.stop_card_retries(number)
        return
    await charge(p, invoice.issued, attempt=attempt)


async def debit_failed(p: OrderProcess, failure: PaymentFailed) -> None:
    number = p.pending_debits.pop(failure.payment_id, None)
    if number is None:  # the same failure reported twice before the first was handled
        return
    note = f"the direct debit was returned ({failure.code or 'declined'}); please pay another way"
    await p.email(EmailKind.CARD_DECLINED, f"debit-failed:{failure.payment_id}", invoice_number=number, note=note)


async def apply_payment(p: OrderProcess, payment: PaymentReceived) -> None:
    if payment.payment_id in p.applied_payments:
        return  # the card charge and Stripe's webhook both report the same PaymentIntent
    if not p.book.invoices:
        p.prepayments.append(payment)  # applied as soon as there is an invoice to apply it to
        return
    request = ApplyPayment(order_id=p.order_id, payment=payment)
    change = await p.step(APPLY_PAYMENT, request, f"apply payment {payment.payment_id}")
    if change.refused:  # the same id on another order's payment: a person must look at it
        p.refuse("payment_received", change.refused)
        return
    p.applied_payments.add(payment.payment_id)
    p.book.apply(change, "payment")
    p.note("payment_applied", f"{payment.payment_id}: {payment.amount} {payment.currency}")
    if p.book.amount_due_minor == 0:
        p.book.promise = None


async def queue_payment(p: OrderProcess, payment: PaymentReceived, reason: str) -> None:
    request = QueuePayment(order_id=p.order_id, payment=payment, reason=reason)
    await p.step(QUEUE_PAYMENT, request, f"queue payment {payment.payment_id}")
    detail = f"{payment.payment_id}: {payment.amount} {payment.currency} to cash application: {reason}"
    p.note("payment_queued", detail, refused=True)


async def queue_unapplied(p: OrderProcess) -> None:
    """Money that reached this order and was not applied goes to the cash-application queue before the order
    ends: paid before an invoice that never came, or arriving while the order closed."""
    status = p.book.status.value
    if p.book.invoices:
        reason = f"the payment arrived as the order closed ({status})"
    else:
        reason = f"the order was {status} before anything was invoiced"
    while p.prepayments or p.inbox:
        item = p.prepayments.pop(0) if p.prepayments else p.inbox.pop(0)
        if isinstance(item, PaymentReceived):
            await queue_payment(p, item, reason)
        elif isinstance(item, UnappliedPayment):
            await queue_payment(p, item.payment, item.reason)
