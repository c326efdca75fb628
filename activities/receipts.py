"""Cash application against the book of record: statements stored, receipts matched, applications delivered.

A receipt is booked to unapplied cash (2100) the moment it is stored: the money is in the bank whether or
not we know whose it is. Applying it writes a ``CashApplication`` first and then signals
``payment_received`` to the order, whose ``apply_payment`` moves the amount from 2100 to receivables. The
application's payment id is the order's dedupe key, so delivering twice is harmless.
"""

import asyncio
import hashlib
from collections import defaultdict
from datetime import UTC, datetime, time

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities import ledger
from activities.orders import audit
from models.activity_io import (
    ApplicationsDelivered,
    DeliverApplications,
    MatchReceipts,
    ReceiptsMatched,
)
from models.contract import PaymentChannel, PaymentReceived
from models.money import format_money, from_minor, to_minor
from models.naming import workflow_id
from models.tables import (
    BankStatement,
    CashApplication,
    CashReceipt,
    Customer,
    CustomerBankAccount,
    Invoice,
    Order,
)
from o2c.matching import BankLine, Flag, Matcher, OpenInvoice, Proposal, normalize_account
from o2c.matching import Customer as MatchCustomer
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from o2c.statements import Statement

MATCHER = "o2c matcher"
OPEN_STATUSES = ("unapplied", "part_applied")
QUEUED_STATUSES = ("new", *OPEN_STATUSES)


class CashError(ValueError):
    """A request finance made that cannot be carried out, with what to do instead."""


def _post_receipt(session: Session, receipt: CashReceipt) -> None:
    ledger.transfer(
        session, f"receipt:{receipt.id}", receipt.currency, receipt.amount_minor, ledger.CASH, ledger.UNAPPLIED_CASH
    )


def store_statement(engine: Engine, statement: Statement, actor: str) -> tuple[BankStatement, bool]:
    """The statement and its lines in one transaction, and whether it is new; lines already known (the same
    file again, or a notification and then the day's statement) are not stored twice."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        existing = session.get(BankStatement, statement.key)
        if existing is not None:
            return existing, False
        ids = [line.id for line in statement.lines]
        known = set(session.exec(select(CashReceipt.id).where(col(CashReceipt.id).in_(ids))).all())
        row = BankStatement(
            key=statement.key,
            format=statement.format.value,
            statement_id=statement.statement_id[:400],
            account=statement.account[:200],
            digest=statement.digest,
            lines=len(statement.lines),
            new_lines=len(set(ids) - known),
            imported_by=actor,
            imported_at=now,
        )
        session.add(row)
        session.flush()
        for line in statement.lines:
            if line.id in known:
                continue
            known.add(line.id)
            receipt = CashReceipt(
                id=line.id,
                source="bank",
                statement_key=statement.key,
                location=line.where[:200],
                booked_on=line.booked_on,
                amount_minor=line.amount_minor,
                unapplied_minor=max(0, line.amount_minor),
                currency=line.currency,
                payer_name=line.payer_name[:200],
                payer_account=normalize_account(line.payer_account)[:64],
                reference=line.reference[:200],
                remittance=line.remittance[:2000],
                bank_reference=line.bank_reference[:120],
                end_to_end_id=line.end_to_end_id[:120],
                status="new" if line.amount_minor > 0 else "debit",
                created_at=now,
            )
            session.add(receipt)
            if line.amount_minor > 0:
                _post_receipt(session, receipt)
        audit(
            session,
            f"statement:{statement.key}",
            None,
            "statement_imported",
            actor,
            f"{statement.format} {statement.statement_id} of {statement.account}: {len(ids)} lines",
        )
    return row, True


def open_receipts(session: Session, customer_id: str | None = None) -> list[CashReceipt]:
    """The exception queue: money received and not (fully) applied, oldest first; one customer's, if given."""
    query = select(CashReceipt).where(CashReceipt.unapplied_minor > 0, col(CashReceipt.status).in_(QUEUED_STATUSES))
    if customer_id is not None:
        query = query.where(CashReceipt.customer_id == customer_id)
    return list(session.exec(query.order_by(col(CashReceipt.booked_on), col(CashReceipt.id))).all())


def record_unapplied_card_payment(engine: Engine, payment: PaymentReceived, order_id: str) -> bool:
    """A card payment no open order took (the webhook found the order closed): into the exception queue.
    False when it was recorded before."""
    with transaction(engine) as session:
        return queue_payment(session, payment, order_id, f"order {order_id} was not open when the payment arrived")


def queue_payment(session: Session, payment: PaymentReceived, order_id: str, reason: str) -> bool:
    """Money an order could not apply (cancelled, rejected, closed, another currency) goes to the exception
    queue for finance to apply elsewhere or refund, once: False when it was queued before.

    A payment cash application delivered is refused back onto its receipt (its money is in unapplied cash
    already); any other payment becomes a receipt of its own, booked from cash to unapplied cash."""
    now = datetime.now(UTC)
    application = session.exec(select(CashApplication).where(CashApplication.payment_id == payment.payment_id)).first()
    if application is not None:
        if application.status == "refused":
            return False
        receipt = session.get(CashReceipt, application.receipt_id)
        assert receipt is not None
        _refuse_application(session, application, receipt, reason, now)
        return True
    if session.get(CashReceipt, payment.payment_id) is not None:
        return False
    amount = to_minor(payment.amount, payment.currency)
    receipt = CashReceipt(
        id=payment.payment_id,
        source="stripe" if payment.method in (PaymentChannel.CARD, PaymentChannel.DIRECT_DEBIT) else "order",
        location=f"{payment.method.value} payment for order {order_id}",
        booked_on=payment.received_at.date(),
        amount_minor=amount,
        unapplied_minor=amount,
        currency=payment.currency,
        payer_name="",
        reference=payment.reference[:200],
        remittance=f"{payment.method.value} payment for order {order_id}",
        status="unapplied",
        reason=reason[:2000],
        created_at=now,
    )
    _of_the_order_customer(session, receipt, order_id)
    session.add(receipt)
    session.flush()
    _post_receipt(session, receipt)
    audit(session, f"queued:{payment.payment_id}", order_id, "payment_queued", "o2c", f"{receipt.location}: {reason}")
    return True


def queue_excess(session: Session, payment_id: str, order_id: str, excess_minor: int, currency: str) -> None:
    """What a payment brought beyond what its order owed: a receipt in the exception queue, so finance sees
    the customer's credit and refunds or applies it. The payment's own journal already put the money in
    unapplied cash, so this receipt posts nothing."""
    receipt_id = excess_receipt_id(payment_id)
    if excess_minor <= 0 or session.get(CashReceipt, receipt_id) is not None:
        return
    receipt = CashReceipt(
        id=receipt_id,
        source="excess",
        location=f"payment {payment_id} to order {order_id}",
        booked_on=datetime.now(UTC).date(),
        amount_minor=excess_minor,
        unapplied_minor=excess_minor,
        currency=currency,
        reference=payment_id[:200],
        remittance=f"more than order {order_id} owed",
        status="unapplied",
        flags="overpaid",
        reason=f"payment {payment_id} was more than order {order_id} owed"[:2000],
        created_at=datetime.now(UTC),
    )
    _of_the_order_customer(session, receipt, order_id)
    session.add(receipt)


def excess_receipt_id(payment_id: str) -> str:
    """``excess:{payment id}``, hashed where that would not fit the receipt id's 64 characters."""
    receipt_id = f"excess:{payment_id}"
    return receipt_id if len(receipt_id) <= 64 else f"excess:{hashlib.sha256(payment_id.encode()).hexdigest()[:57]}"


def _of_the_order_customer(session: Session, receipt: CashReceipt, order_id: str) -> None:
    order = session.get(Order, order_id)
    customer = session.get(Customer, order.customer_id) if order is not None else None
    if customer is not None:
        receipt.customer_id = customer.id
        receipt.payer_name = (customer.billing_name or customer.name)[:200]


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


def _next_payment_id(session: Session, receipt_id: str) -> str:
    count = len(session.exec(select(CashApplication.id).where(CashApplication.receipt_id == receipt_id)).all())
    return f"{receipt_id}:{count + 1}"


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
            payment_id=_next_payment_id(session, receipt.id),
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


class ReceiptActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None) -> None:
        self._engine = engine
        self._settings = settings
        self._client = client

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

    @activity.defn(name="deliver_applications")
    async def deliver_applications(self, request: DeliverApplications) -> ApplicationsDelivered:
        if self._client is None:
            raise RuntimeError("deliver_applications needs a Temporal client: build_activities(client=...)")
        return await deliver(self._engine, self._client, request.application_ids, activity.heartbeat)


def _pending(engine: Engine, ids: list[int] | None) -> list[tuple[CashApplication, CashReceipt]]:
    with transaction(engine) as session:
        query = select(CashApplication, CashReceipt).join(CashReceipt).where(CashApplication.status == "pending")
        if ids is not None:
            query = query.where(col(CashApplication.id).in_(ids))
        return [(a, r) for a, r in session.exec(query.order_by(col(CashApplication.id))).all()]


def _learn_account(session: Session, customer_id: str, receipt: CashReceipt, now: datetime) -> None:
    """The next payment from this account is the customer's (tier 3 of the matcher)."""
    known = session.exec(
        select(CustomerBankAccount.id).where(
            CustomerBankAccount.customer_id == customer_id, CustomerBankAccount.account == receipt.payer_account
        )
    ).first()
    if known is None:
        session.add(
            CustomerBankAccount(
                customer_id=customer_id, account=receipt.payer_account, learned_from=receipt.id, created_at=now
            )
        )


def _settle(engine: Engine, application_id: int, refusal: str | None) -> None:
    """The application delivered (and the payer's account learned for its customer), or refused and its
    money back on the receipt for a person to look at."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        application = session.get(CashApplication, application_id)
        if application is None or application.status != "pending":
            return
        receipt = session.get(CashReceipt, application.receipt_id)
        assert receipt is not None
        if refusal is None:
            application.status, application.delivered_at = "delivered", now
            order = session.get(Order, application.order_id)
            if receipt.payer_account and order is not None:
                _learn_account(session, order.customer_id, receipt, now)
            audit(
                session,
                f"cash-application:{application.payment_id}",
                application.order_id,
                "cash_applied",
                application.actor,
                f"{format_money(application.amount_minor, application.currency)} of receipt "
                f"{receipt.id} to {application.invoice_numbers or application.order_id} ({application.source})",
            )
        else:
            _refuse_application(session, application, receipt, refusal, now)
        session.add(application)


def _refuse_application(
    session: Session, application: CashApplication, receipt: CashReceipt, refusal: str, now: datetime
) -> None:
    """The application's money back on its receipt, for a person to look at."""
    application.status, application.refusal = "refused", refusal[:400]
    receipt.unapplied_minor += application.amount_minor
    receipt.status = "unapplied"
    receipt.reason = f"application to order {application.order_id} refused: {refusal}"[:2000]
    receipt.updated_at = now
    session.add(receipt)
    session.add(application)


async def deliver(
    engine: Engine, client: Client, ids: list[int] | None, heartbeat: object = None
) -> ApplicationsDelivered:
    """Signals ``payment_received`` for each pending application; an order that is not open refuses."""
    delivered = refused = 0
    for application, receipt in await asyncio.to_thread(_pending, engine, ids):
        payment = PaymentReceived(
            payment_id=application.payment_id,
            amount=from_minor(application.amount_minor, application.currency),
            currency=application.currency,
            method=PaymentChannel.CARD if receipt.source == "stripe" else PaymentChannel.BANK_TRANSFER,
            received_at=datetime.combine(receipt.booked_on, time(), UTC),
            reference=application.invoice_numbers,
        )
        refusal = None
        try:
            await client.get_workflow_handle(workflow_id(application.order_id)).signal("payment_received", payment)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            refusal = f"order {application.order_id} is not open"
        assert application.id is not None
        await asyncio.to_thread(_settle, engine, application.id, refusal)
        delivered += refusal is None
        refused += refusal is not None
        if callable(heartbeat):
            heartbeat(application.id)
    return ApplicationsDelivered(delivered=delivered, refused=refused)


def apply_by_hand(
    engine: Engine, receipt_id: str, order_id: str, amount_minor: int | None, actor: str, note: str, request_id: str
) -> CashApplication:
    """Finance applies (part of) a receipt to an order. Refused with the reason when the receipt has not
    that much left, the currencies differ or the order is unknown; the same request id twice is one
    application."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        done = session.exec(select(CashApplication).where(CashApplication.request_id == request_id)).first()
        if done is not None:
            return done
        receipt = session.get(CashReceipt, receipt_id)
        if receipt is None:
            raise CashError(f"no receipt {receipt_id}: `o2c cash unapplied` lists them")
        order = session.get(Order, order_id)
        if order is None:
            raise CashError(f"no order {order_id}")
        if order.currency != receipt.currency:
            raise CashError(f"order {order_id} is in {order.currency}, the receipt in {receipt.currency}")
        amount = receipt.unapplied_minor if amount_minor is None else amount_minor
        if amount <= 0 or amount > receipt.unapplied_minor:
            raise CashError(
                f"receipt {receipt_id} has {format_money(receipt.unapplied_minor, receipt.currency)} unapplied; "
                f"cannot apply {format_money(amount, receipt.currency)}"
            )
        open_numbers = session.exec(
            select(Invoice.number)
            .where(Invoice.order_id == order_id, Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date))
        ).all()
        application = CashApplication(
            receipt_id=receipt.id,
            payment_id=_next_payment_id(session, receipt.id),
            request_id=request_id,
            order_id=order_id,
            amount_minor=amount,
            currency=receipt.currency,
            invoice_numbers=" ".join(open_numbers)[:400],
            source="manual",
            actor=actor,
            confidence=1.0,
            status="pending",
            created_at=now,
        )
        session.add(application)
        receipt.unapplied_minor -= amount
        receipt.status = "applied" if receipt.unapplied_minor == 0 else "part_applied"
        receipt.reason = note[:2000] if note else receipt.reason
        receipt.updated_at = now
        session.add(receipt)
        session.flush()
        audit(
            session,
            f"cash-apply-request:{request_id}",
            order_id,
            "cash_apply_requested",
            actor,
            f"{format_money(amount, receipt.currency)} of receipt {receipt_id}: {note}",
        )
    return application
