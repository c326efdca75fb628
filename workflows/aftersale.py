"""After the sale, when the order workflow may long be closed: refunds of paid invoices, chargebacks, and
refunds made at Stripe directly. Each is a short workflow keyed by what it is about, so a second start
(finance pressing twice, Stripe redelivering) runs nothing more."""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue

from workflows.calls import (
    CLOSE_CHARGEBACK,
    CREDIT_PAID_INVOICE,
    OPEN_CHARGEBACK,
    RECORD_STRIPE_REFUND,
    REFUND_CARD,
    SEND_EMAIL,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models import search_attributes as sa
    from models.activity_io import (
        ChargebackRecorded,
        CloseChargeback,
        CreditPaidInvoice,
        EmailKind,
        PaidInvoiceCredited,
        RefundCard,
        RefundDone,
        SendEmail,
        StripeRefundRecorded,
        StripeRefundSeen,
    )
    from models.contract import (
        ChargebackClosed,
        ChargebackOpened,
        ChargebackResult,
        ChargebackStatus,
        RefundInvoice,
        RefundLine,
        RefundResult,
    )
    from models.money import from_minor
    from models.naming import CHARGEBACK_WORKFLOW, REFUND_WORKFLOW, STRIPE_REFUND_WORKFLOW

EVIDENCE_REMINDER = timedelta(days=3)


def _money(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


async def _email(kind: EmailKind, key: str, order_id: str, note: str, **extra: str) -> None:
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
        await _email(
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
                summary=f"refund {_money(planned.amount_minor, currency)} to {planned.payment_id}",
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
            money = _money(done.amount_minor, currency)
            if done.status == "failed":
                await _email(
                    EmailKind.REFUND_FAILED,
                    f"refund-failed:{done.key}",
                    request.order_id,
                    f"{money} of credit note {note_number} could not go back to card payment {done.payment_id}: "
                    f"{done.message or 'Stripe refused the refund'}. It is held as the customer's credit.",
                )
            else:
                await _email(
                    EmailKind.REFUND_ISSUED,
                    f"refund:{done.key}",
                    request.order_id,
                    f"{money} of credit note {note_number} to the card you paid with",
                    invoice_number=request.invoice_number,
                )
        refunded = sum(line.amount_minor for line in self._lines if line.status != "failed")
        held = credited.held_as_credit_minor + sum(line.amount_minor for line in self._lines if line.status == "failed")
        workflow.set_current_details(
            f"Credit note {note_number}: {_money(refunded, currency)} refunded, {_money(held, currency)} held as credit"
        )
        return RefundResult(
            credit_note_number=note_number,
            currency=currency,
            refunded_minor=refunded,
            held_as_credit_minor=held,
            refunds=self._lines,
        )


@workflow.defn(name=CHARGEBACK_WORKFLOW, failure_exception_types=[ValidationError])
class ChargebackWorkflow:
    """A cardholder's chargeback, from Stripe's ``charge.dispute.created`` until the bank decides
    (``charge.dispute.closed``, signal ``dispute_closed``). It becomes a dispute on the payment's order
    whether or not the order workflow still runs, and accounts receivable is told, with a reminder
    before the evidence is due."""

    def __init__(self) -> None:
        self._closed: ChargebackClosed | None = None
        self._status = ChargebackStatus.OPEN
        self._order_id: str | None = None
        self._opened: ChargebackOpened | None = None

    @workflow.run
    async def run(self, opened: ChargebackOpened) -> ChargebackResult:
        self._opened = opened
        recorded: ChargebackRecorded = await OPEN_CHARGEBACK(opened, summary=f"record {opened.dispute_id}")
        self._order_id = recorded.order_id
        money = _money(opened.amount_minor, opened.currency)
        attributes = [sa.ORDER_STATUS.value_set("chargeback_open")]
        if recorded.customer_id:
            attributes.append(sa.CUSTOMER_ID.value_set(recorded.customer_id))
        workflow.upsert_search_attributes(attributes)
        workflow.set_current_details(
            f"Chargeback {opened.dispute_id} over {money} on order {recorded.order_id or 'unknown'}: "
            "waiting for the bank's decision"
        )
        if recorded.order_id:
            due = opened.evidence_due_by.date().isoformat() if opened.evidence_due_by else "the date Stripe shows"
            await _email(
                EmailKind.CHARGEBACK_OPENED,
                f"chargeback:{opened.dispute_id}:opened",
                recorded.order_id,
                f"{opened.dispute_id} over {money} ({opened.reason or 'no reason given'}); evidence is due by {due}",
            )
            remind_at = opened.evidence_due_by - EVIDENCE_REMINDER if opened.evidence_due_by else None
            if remind_at is not None and remind_at > workflow.now() and not await self._closed_within(remind_at):
                await _email(
                    EmailKind.CHARGEBACK_EVIDENCE_DUE,
                    f"chargeback:{opened.dispute_id}:evidence",
                    recorded.order_id,
                    f"{opened.dispute_id} over {money}: evidence is due by {due}",
                )
        await self._closed_within(None)
        assert self._closed is not None
        closed: ChargebackRecorded = await CLOSE_CHARGEBACK(
            CloseChargeback(dispute_id=opened.dispute_id, status=self._closed.status, closed_at=self._closed.closed_at),
            summary=f"{opened.dispute_id} {self._closed.status}",
        )
        self._status = ChargebackStatus(closed.status)
        workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(f"chargeback_{closed.status}")])
        workflow.set_current_details(f"Chargeback {opened.dispute_id} over {money}: {closed.status}")
        if recorded.order_id:
            await _email(
                EmailKind.CHARGEBACK_CLOSED,
                f"chargeback:{opened.dispute_id}:closed",
                recorded.order_id,
                f"{opened.dispute_id} over {money} was {closed.status}"
                + (": the money is back." if closed.status == "won" else ": booked as a chargeback loss."),
            )
        return self._result()

    async def _closed_within(self, until: datetime | None) -> bool:
        """Waits for the bank's decision, until ``until`` if given; whether it came."""
        try:
            await workflow.wait_condition(
                lambda: self._closed is not None, timeout=until - workflow.now() if until else None
            )
        except TimeoutError:
            return False
        return True

    def _result(self) -> ChargebackResult:
        assert self._opened is not None
        return ChargebackResult(
            dispute_id=self._opened.dispute_id,
            order_id=self._order_id,
            status=self._status,
            amount_minor=self._opened.amount_minor,
            currency=self._opened.currency,
        )

    @workflow.signal(name="dispute_closed")
    def dispute_closed(self, raw: RawValue) -> None:
        try:
            closed = workflow.payload_converter().from_payload(raw.payload, ChargebackClosed)
        except Exception as err:  # a bad payload is dropped, never a stuck workflow
            workflow.logger.warning("refused dispute_closed: %s", err)
            return
        if closed is None:
            workflow.logger.warning("refused dispute_closed: empty payload")
            return
        if self._opened is not None and closed.dispute_id != self._opened.dispute_id:
            workflow.logger.warning("refused dispute_closed for %s", closed.dispute_id)
            return
        if self._closed is None:
            self._closed = closed

    @workflow.query(name="status")
    def status(self) -> ChargebackResult:
        return self._result()


@workflow.defn(name=STRIPE_REFUND_WORKFLOW, failure_exception_types=[ValidationError])
class StripeRefundWorkflow:
    """A refund Stripe reported: ours confirmed (or failed late), or one made in Stripe's dashboard,
    recorded and brought to accounts receivable's attention."""

    @workflow.run
    async def run(self, seen: StripeRefundSeen) -> StripeRefundRecorded:
        recorded: StripeRefundRecorded = await RECORD_STRIPE_REFUND(seen, summary=f"record {seen.refund_id}")
        money = _money(seen.amount_minor, seen.currency.upper())
        if recorded.changed and recorded.order_id:
            if recorded.source == "stripe":
                await _email(
                    EmailKind.EXTERNAL_REFUND,
                    f"stripe-refund:{seen.refund_id}",
                    recorded.order_id,
                    f"{seen.refund_id} over {money} was made at Stripe, not through o2c: issue a credit note "
                    "if goods came back, or recover it",
                )
            elif recorded.status == "failed":
                await _email(
                    EmailKind.REFUND_FAILED,
                    f"refund-failed:{seen.refund_id}",
                    recorded.order_id,
                    f"Stripe reports refund {seen.refund_id} over {money} failed. It is held as the customer's credit.",
                )
        workflow.set_current_details(f"Refund {seen.refund_id} over {money}: {recorded.source}, {recorded.status}")
        return recorded
