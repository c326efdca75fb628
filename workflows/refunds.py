"""Refunds, when the order workflow may long be closed: a paid invoice credited and refunded to the card it was
paid with, and refunds made or reported at Stripe directly. Each is a short workflow keyed by what it is
about, so a second start (finance pressing twice, Stripe redelivering) runs nothing more."""

from temporalio import workflow

from workflows.calls import CREDIT_PAID_INVOICE, RECORD_STRIPE_REFUND, REFUND_CARD, SEND_EMAIL

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.activity_io import (
        CreditPaidInvoice,
        EmailKind,
        PaidInvoiceCredited,
        RefundCard,
        RefundDone,
        SendEmail,
        StripeRefundRecorded,
        StripeRefundSeen,
    )
    from models.contract import RefundInvoice, RefundLine, RefundResult
    from models.money import from_minor
    from models.naming import REFUND_WORKFLOW, STRIPE_REFUND_WORKFLOW


def format_amount(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


async def email(kind: EmailKind, key: str, order_id: str, note: str, **extra: str) -> None:
    await SEND_EMAIL(
        SendEmail(key=key, order_id=order_id, kind=kind, note=note, **extra),
        summary=f"email {kind.value}",
    )


@workflow.defn(name=REFUND_WORKFLOW, failure_exception_types=[ValidationError])
class RefundPaidInvoice:
    """A credit note on a paid invoice, emailed, and the money back to the card(s) it was paid with; what
    was paid another way is held as the customer's credit (finance pays it out or sets it off)."""

    def __init__(self) -> None:
        self._lines: list[RefundLine] = []

    @workflow.run
    async def run(self, request: RefundInvoice) -> RefundResult:
        request_id = request.request_id or workflow.info().workflow_id
        credited: PaidInvoiceCredited = await CREDIT_PAID_INVOICE(
            CreditPaidInvoice(
                order_id=request.order_id,
                invoice_number=request.invoice_number,
                amount=request.amount,
                reason=request.reason,
                actor=request.by,
                dedupe_key=f"refund:{request.invoice_number}:{request_id}",
                issued_on=workflow.now().date(),
            ),
            summary=f"credit note on {request.invoice_number}",
        )
        note_number, currency = credited.credit_note_number, credited.currency
        workflow.set_current_details(f"Credit note {note_number} issued; refunding")
        await email(
            EmailKind.CREDIT_NOTE,
            f"credit-note:{note_number}",
            request.order_id,
            request.reason,
            invoice_number=request.invoice_number,
            document_number=note_number,
        )
        for planned in credited.card_refunds:
            done: RefundDone = await REFUND_CARD(
                RefundCard(key=planned.key, order_id=request.order_id),
                summary=f"refund {format_amount(planned.amount_minor, currency)} to {planned.payment_id}",
            )
            self._lines.append(
                RefundLine(
                    key=done.key,
                    payment_id=done.payment_id,
                    amount_minor=done.amount_minor,
                    status=done.status,
                    stripe_refund_id=done.stripe_refund_id,
                )
            )
            money = format_amount(done.amount_minor, currency)
            if done.status == "failed":
                await email(
                    EmailKind.REFUND_FAILED,
                    f"refund-failed:{done.key}",
                    request.order_id,
                    f"{money} of credit note {note_number} could not go back to card payment {done.payment_id}: "
                    f"{done.message or 'Stripe refused the refund'}. It is held as the customer's credit.",
                )
            else:
                await email(
                    EmailKind.REFUND_ISSUED,
                    f"refund:{done.key}",
                    request.order_id,
                    f"{money} of credit note {note_number} to the card you paid with",
                    invoice_number=request.invoice_number,
                )
        refunded = sum(line.amount_minor for line in self._lines if line.status != "failed")
        held = credited.held_as_credit_minor + sum(line.amount_minor for line in self._lines if line.status == "failed")
        workflow.set_current_details(
            f"Credit note {note_number}: {format_amount(refunded, currency)} refunded, "
            f"{format_amount(held, currency)} held as credit"
        )
        return RefundResult(
            credit_note_number=note_number,
            currency=currency,
            refunded_minor=refunded,
            held_as_credit_minor=held,
            refunds=self._lines,
        )


@workflow.defn(name=STRIPE_REFUND_WORKFLOW, failure_exception_types=[ValidationError])
class StripeRefundWorkflow:
    """A refund Stripe reported: ours confirmed (or failed late), or one made in Stripe's dashboard,
    recorded and brought to accounts receivable's attention."""

    @workflow.run
    async def run(self, seen: StripeRefundSeen) -> StripeRefundRecorded:
        recorded: StripeRefundRecorded = await RECORD_STRIPE_REFUND(seen, summary=f"record {seen.refund_id}")
        money = format_amount(seen.amount_minor, seen.currency.upper())
        if recorded.changed and recorded.order_id:
            if recorded.source == "stripe":
                await email(
                    EmailKind.EXTERNAL_REFUND,
                    f"stripe-refund:{seen.refund_id}",
                    recorded.order_id,
                    f"{seen.refund_id} over {money} was made at Stripe, not through o2c: issue a credit note "
                    "if goods came back, or recover it",
                )
            elif recorded.status == "failed":
                await email(
                    EmailKind.REFUND_FAILED,
                    f"refund-failed:{seen.refund_id}",
                    recorded.order_id,
                    f"Stripe reports refund {seen.refund_id} over {money} failed. It is held as the customer's credit.",
                )
        workflow.set_current_details(f"Refund {seen.refund_id} over {money}: {recorded.source}, {recorded.status}")
        return recorded
