"""Receipts matched to open invoices by the matching engine (``o2c.matching``): applications for what it
applies, a proposal and a reason on the receipt for what waits for a person."""

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.cash_application.applications import next_payment_id
from activities.cash_application.queue import QUEUED_STATUSES
from models.activity_io import MatchReceipts, ReceiptsMatched
from models.money import format_money
from models.tables import (
    CashApplication,
    CashReceipt,
    Customer,
    CustomerBankAccount,
    Invoice,
)
from o2c.matching import BankLine, Flag, Matcher, OpenInvoice, Proposal
from o2c.matching import Customer as MatchCustomer
from o2c.platform.config import Settings
from o2c.platform.db import transaction

MATCHER = "o2c matcher"


def build_matcher(session: Session, threshold: float, series: str) -> Matcher:
    """Every open invoice not waiting on an application already on its way, and every customer with the
    accounts they are known to pay from."""
    pending: set[str] = set()
    for numbers in session.exec(select(CashApplication.invoice_numbers).where(CashApplication.status == "pending")):
        pending.update(n for n in numbers.split() if n)
    invoices = [
        OpenInvoice(
            number=row.number,
            customer_id=row.customer_id,
            currency=row.currency,
            open_minor=row.open_minor,
            total_minor=row.total_minor,
            payment_reference=row.payment_reference,
            order_id=row.order_id,
            due_date=row.due_date,
            discount_minor=row.discount_minor,
            discount_until=row.discount_until,
        )
        for row in session.exec(select(Invoice).where(Invoice.open_minor > 0))
        if row.number not in pending
    ]
    accounts: dict[str, list[str]] = defaultdict(list)
    for customer_id, account in session.exec(select(CustomerBankAccount.customer_id, CustomerBankAccount.account)):
        accounts[customer_id].append(account)
    customers = [
        MatchCustomer(c.id, c.billing_name or c.name, tuple(accounts.get(c.id, ())))
        for c in session.exec(select(Customer))
    ]
    return Matcher(invoices, customers, threshold=threshold, series=(series,))


def _bank_line(receipt: CashReceipt) -> BankLine:
    return BankLine(
        receipt.id,
        receipt.unapplied_minor,
        receipt.currency,
        receipt.booked_on,
        receipt.payer_name,
        receipt.payer_account,
        receipt.reference,
        receipt.remittance,
    )


def _record(session: Session, receipt: CashReceipt, proposal: Proposal, now: datetime) -> list[int]:
    """What the engine decided, on the receipt; applications for what it applied, one per order."""
    receipt.tier = proposal.tier
    receipt.confidence = proposal.confidence
    receipt.rule = proposal.rule[:80]
    receipt.customer_id = proposal.customer_id or receipt.customer_id
    receipt.suggestion = " ".join(proposal.invoice_numbers)[:400]
    receipt.flags = " ".join(proposal.flags)[:120]
    receipt.updated_at = now
    if not proposal.auto:
        receipt.status = "unapplied"
        receipt.reason = proposal.reason[:2000]
        session.add(receipt)
        return []
    by_order: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for allocation in proposal.allocations:
        by_order[allocation.order_id].append((allocation.invoice_number, allocation.amount_minor))
    ids = []
    for order_id, parts in by_order.items():
        amount = sum(a for _, a in parts)
        application = CashApplication(
            receipt_id=receipt.id,
            payment_id=next_payment_id(session, receipt.id),
            order_id=order_id,
            amount_minor=amount,
            currency=receipt.currency,
            invoice_numbers=" ".join(n for n, _ in parts),
            source=f"auto tier {proposal.tier}: {proposal.rule}"[:40],
            actor=MATCHER,
            confidence=proposal.confidence,
            status="pending",
            created_at=now,
        )
        session.add(application)
        session.flush()
        assert application.id is not None
        ids.append(application.id)
        receipt.unapplied_minor -= amount
    receipt.status = "applied" if receipt.unapplied_minor == 0 else "part_applied"
    notes = []
    if Flag.SHORT in proposal.flags:
        notes.append("short payment: flagged for a dispute with the customer")
    if Flag.OVERPAID in proposal.flags:
        notes.append(
            f"overpaid: {format_money(receipt.unapplied_minor, receipt.currency)} held as the customer's credit"
        )
    if Flag.PARTIAL in proposal.flags:
        notes.append("part payment: the rest stays due and dunning goes on")
    receipt.reason = "; ".join(notes)
    session.add(receipt)
    return ids


class ReceiptMatchingActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name="match_receipts")
    def match_receipts(self, request: MatchReceipts) -> ReceiptsMatched:
        """One transaction: the proposals and the applications are written together or not at all, so a
        retry starts from the same receipts."""
        now = datetime.now(UTC)
        with transaction(self._engine) as session:
            query = select(CashReceipt).order_by(col(CashReceipt.booked_on), col(CashReceipt.id))
            if request.statement_key:
                query = query.where(CashReceipt.statement_key == request.statement_key, CashReceipt.status == "new")
            else:
                query = query.where(col(CashReceipt.status).in_(QUEUED_STATUSES), CashReceipt.unapplied_minor > 0)
            receipts = list(session.exec(query).all())
            matcher = build_matcher(session, self._settings.cash_auto_threshold, self._settings.invoice_series)
            applications: list[int] = []
            applied = flagged = 0
            for index, receipt in enumerate(receipts):
                proposal = matcher.match(_bank_line(receipt))
                made = _record(session, receipt, proposal, now)
                applications.extend(made)
                applied += bool(made)
                flagged += bool({Flag.SHORT, Flag.ALREADY_PAID} & set(proposal.flags))
                if index % 500 == 0:
                    activity.heartbeat(index)
        return ReceiptsMatched(
            receipts=len(receipts),
            applied=applied,
            unapplied=len(receipts) - applied,
            flagged=flagged,
            applications=applications,
        )
