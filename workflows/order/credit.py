"""Credit: the engine's check with the order, a hold that waits for finance, and a re-check before invoicing
when the customer's situation changed since the approval."""

from temporalio import workflow

from workflows.calls import RECHECK_CREDIT

with workflow.unsafe.imports_passed_through():
    from models.activity_io import CreditAssessment, CreditRecheck, CreditRecord, EmailKind
    from models.contract import ApproveCredit, CancelOrder, OrderStatus, PaymentMethod, RejectCredit, Stage
    from workflows.order.core import ENGINE, OrderProcess
    from workflows.order.schedule import CreditHold

HOLD_EXPIRED = "credit hold expired without a decision"


async def pass_credit_check(p: OrderProcess, assessment: CreditAssessment) -> bool:
    """The check ``record_order`` ran with the order: approved, rejected, or held for finance."""
    p.book.stage = Stage.CREDIT_CHECK
    p.wait("the credit check")
    record_assessment(p, assessment, "order")
    if assessment.decision == "approve":
        return True
    if assessment.decision == "reject":
        await reject_order(p, assessment.reason)
        return False
    answer = await hold_for_finance(p, assessment, "")
    if isinstance(answer, ApproveCredit):
        p.book.credit_decision = f"approved by {answer.by}"
        record = finance_decided(p, "approved", answer.by, answer.note or "approved", "order")
        await p.set_status(OrderStatus.AWAITING_SHIPMENT, "credit_approved", answer.note, answer.by, credit=record)
        return True
    if isinstance(answer, RejectCredit):
        p.book.credit_decision = f"rejected by {answer.by}"
        record = finance_decided(p, "rejected", answer.by, answer.reason, "order")
        await reject_order(p, answer.reason, answer.by, credit=record)
        return False
    expired = finance_decided(p, "expired", answer.by, answer.reason, "order") if answer.by == ENGINE else None
    await cancel_order(p, answer, credit=expired)
    return False


async def hold_for_finance(
    p: OrderProcess, assessment: CreditAssessment, round_key: str
) -> ApproveCredit | RejectCredit | CancelOrder:
    """Waits for finance's answer; a reminder when it is slow, a cancellation when it never comes."""
    reason = assessment.reason
    p.credit_answer = None
    await p.set_status(OrderStatus.CREDIT_HOLD, "credit_hold", reason, ENGINE, key=round_key)
    await p.email(EmailKind.CREDIT_HOLD, f"credit-hold{round_key}", note=hold_note(p, assessment))
    hold = CreditHold.starting(workflow.now(), p.policy)
    while p.credit_answer is None and p.book.cancelled is None:
        p.wait("finance: approve_credit or reject_credit")
        wake, is_reminder = hold.next_wake()
        answered = lambda: p.credit_answer is not None or p.book.cancelled is not None  # noqa: E731
        if await p.sleep_until(wake, "credit hold reminder" if is_reminder else "credit hold expiry", answered):
            continue
        if is_reminder:
            await p.email(EmailKind.CREDIT_HOLD_REMINDER, f"credit-hold-reminder{round_key}", note=reason)
            hold.reminded()
        elif not round_key:
            p.book.cancelled = CancelOrder(by=ENGINE, reason=HOLD_EXPIRED)
        else:
            return CancelOrder(by=ENGINE, reason=HOLD_EXPIRED)
    if p.credit_answer is not None:
        return p.credit_answer
    assert p.book.cancelled is not None
    return p.book.cancelled


async def recheck_credit(p: OrderProcess) -> None:
    """Before an invoice extends credit: if the customer's situation changed since the approval, the rules
    run again. A hold waits for finance; a rejection (or an expired hold) withdraws credit: what shipped is
    invoiced due at once and what has not shipped is cancelled."""
    if (
        p.book.fulfillment_closed is not None
        or p.book.order.payment_method is not PaymentMethod.BANK_TRANSFER
        or not p.policy.credit_recheck_before_invoicing
    ):
        return
    p.credit_round += 1
    recheck = CreditRecheck(order_id=p.order_id, round=p.credit_round)
    assessment = await p.step(RECHECK_CREDIT, recheck, "re-check credit before invoicing")
    if assessment.unchanged:
        return
    record_assessment(p, assessment, "before_invoicing")
    if assessment.decision == "approve":
        return
    round_key = f":recheck-{p.credit_round}"
    answer: ApproveCredit | RejectCredit | CancelOrder | None = None
    if assessment.decision == "hold":
        answer = await hold_for_finance(p, assessment, round_key)
    if isinstance(answer, ApproveCredit):
        approval = finance_decided(p, "approved", answer.by, answer.note or "approved", "before_invoicing")
        await p.set_status(
            OrderStatus.AWAITING_SHIPMENT, "credit_approved", answer.note, answer.by, key=round_key, credit=approval
        )
        return
    record: CreditRecord | None = None
    if answer is None:
        by, reason = ENGINE, assessment.reason
    else:
        by, reason = answer.by, answer.reason
        decision = "rejected" if isinstance(answer, RejectCredit) else "expired"
        record = finance_decided(p, decision, by, reason, "before_invoicing")
    p.book.fulfillment_closed = reason
    await p.set_status(
        OrderStatus.AWAITING_SHIPMENT, "credit_withdrawn", reason, by, key=round_key, credit=record, release=True
    )
    await p.email(EmailKind.ORDER_REST_CANCELLED, f"rest-cancelled{round_key}", note=reason)


async def cancel_order(p: OrderProcess, command: CancelOrder, credit: CreditRecord | None = None) -> None:
    p.cancel_recorded = True
    await p.set_status(OrderStatus.CANCELLED, "cancelled", command.reason, command.by, credit=credit)
    await p.email(EmailKind.ORDER_CANCELLED, "cancelled", note=command.reason)


async def reject_order(p: OrderProcess, reason: str, by: str = ENGINE, credit: CreditRecord | None = None) -> None:
    await p.set_status(OrderStatus.REJECTED, "credit_rejected", reason, by, credit=credit)
    await p.email(EmailKind.ORDER_REJECTED, "rejected", note=reason)


def record_assessment(p: OrderProcess, assessment: CreditAssessment, stage: str) -> None:
    p.book.credit_decision = f"{assessment.decision}: {assessment.reason}"
    p.book.decide_credit(workflow.now(), assessment.decision, ENGINE, assessment.reason, stage, assessment)
    p.note(f"credit_{assessment.decision}", assessment.reason)


def finance_decided(p: OrderProcess, decision: str, by: str, reason: str, stage: str) -> CreditRecord:
    """Finance's answer, kept with the figures of the hold it answered."""
    hold = p.book.last_credit_assessment
    p.book.decide_credit(workflow.now(), decision, by, reason, stage, hold)
    return CreditRecord.model_validate(
        {
            "decision": decision,
            "by": by,
            "reason": reason,
            "stage": stage,
            "limit_minor": hold.limit_minor if hold else None,
            "figures": hold.figures if hold else None,
        }
    )


def hold_note(p: OrderProcess, assessment: CreditAssessment) -> str:
    lines = [f"Why: {assessment.reason}."]
    figures = assessment.figures
    if figures is not None:
        limit = p.money(assessment.limit_minor) if assessment.limit_minor is not None else "none in this currency"
        risk = figures.risk
        lines += [
            f"Exposure: {p.money(figures.exposure_minor)} (limit {limit})",
            f"  open receivables {p.money(figures.open_receivables_minor)}",
            f"  approved orders not yet invoiced {p.money(figures.approved_not_invoiced_minor)}",
            f"  this order {p.money(figures.order_minor)}",
            f"Overdue invoices: {figures.overdue_invoices}; risk class {figures.risk_class}; risk score "
            f"{risk.score if risk.score is not None else 'none (no history)'} ({risk.source}: "
            f"{risk.late_payments} of {risk.invoices_considered} invoices paid late, "
            f"{risk.avg_days_beyond_terms} days beyond terms on average, {risk.disputes} dispute(s))",
        ]
    return "\n".join(lines)
