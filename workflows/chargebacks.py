"""Chargebacks: a cardholder disputes a card payment with their bank (Stripe's ``charge.dispute.created``)
until the bank decides. Keyed by the dispute, so Stripe redelivering starts nothing more."""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue

from workflows.calls import CLOSE_CHARGEBACK, OPEN_CHARGEBACK

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models import search_attributes as sa
    from models.activity_io import ChargebackRecorded, CloseChargeback, EmailKind
    from models.contract import ChargebackClosed, ChargebackOpened, ChargebackResult, ChargebackStatus
    from models.naming import CHARGEBACK_WORKFLOW
    from workflows.refunds import email, format_amount

EVIDENCE_REMINDER = timedelta(days=3)


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
        money = format_amount(opened.amount_minor, opened.currency)
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
            await email(
                EmailKind.CHARGEBACK_OPENED,
                f"chargeback:{opened.dispute_id}:opened",
                recorded.order_id,
                f"{opened.dispute_id} over {money} ({opened.reason or 'no reason given'}); evidence is due by {due}",
            )
            remind_at = opened.evidence_due_by - EVIDENCE_REMINDER if opened.evidence_due_by else None
            if remind_at is not None and remind_at > workflow.now() and not await self._closed_within(remind_at):
                await email(
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
            await email(
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
