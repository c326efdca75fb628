"""Cash application and balance adjustments: each money event allocated oldest invoice first, posted once."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.archive import archive, credit_note_document
from activities.context import log
from activities.invoicing import next_number
from activities.orders import audit, load_order
from activities.receipts import queue_excess, queue_payment
from models.activity_io import (
    AdjustBalance,
    AdjustmentKind,
    Allocation,
    ApplyPayment,
    BalanceChanged,
    QueuePayment,
)
from models.invoicing import HUNDRED
from models.money import to_minor
from models.tables import (
    BalanceAdjustment,
    CashApplication,
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
)
from o2c.platform.config import Settings
from o2c.platform.db import run_transaction, transaction


def open_invoices(session: Session, order_id: str) -> list[Invoice]:
    return list(
        session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
        ).all()
    )


def referenced_first(invoices: list[Invoice], reference: str) -> list[Invoice]:
    """The invoice a payment names (its number or RF reference, as remittance or a payment link gives
    it) is settled first; the rest of the money goes oldest first."""
    text = "".join(reference.split()).upper()
    named = [i for i in invoices if text and (i.number in reference or i.payment_reference in text)]
    return named + [i for i in invoices if i not in named]


def _discount_applies(invoice: Invoice, remaining: int, received_on: datetime) -> bool:
    return (
        invoice.discount_minor > 0
        and invoice.discount_until is not None
        and received_on.date() <= invoice.discount_until
        and invoice.open_minor == invoice.total_minor
        and remaining >= invoice.open_minor - invoice.discount_minor
    )


def _booked_as_receipt(session: Session, payment_id: str) -> bool:
    return session.exec(select(CashApplication.id).where(CashApplication.payment_id == payment_id)).first() is not None


class CashActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name="apply_payment")
    def apply_payment(self, request: ApplyPayment) -> BalanceChanged:
        change, applied_now = run_transaction(self._engine, partial(self._apply, request=request))
        if applied_now:
            log(request.order_id).info(
                "payment applied", payment_id=request.payment.payment_id, unapplied_minor=change.unapplied_minor
            )
        return change

    def _apply(self, session: Session, request: ApplyPayment) -> tuple[BalanceChanged, bool]:
        """The payment on the order's open invoices (the one it references first), booked; with whether it
        was applied just now (False: refused, or applied by an earlier attempt)."""
        payment = request.payment
        existing = session.get(Payment, payment.payment_id)
        if existing is not None and existing.order_id != request.order_id:
            refused = f"payment id {payment.payment_id} was already applied to order {existing.order_id}"
            log(request.order_id).warning("payment refused", payment_id=payment.payment_id, reason=refused)
            return BalanceChanged(allocations=[], unapplied_minor=0, refused=refused), False
        if existing is not None:
            return self._recorded(session, existing), False
        order = load_order(session, request.order_id)
        amount = to_minor(payment.amount, payment.currency)
        remaining = amount
        allocations: list[Allocation] = []
        discounts = 0
        for invoice in referenced_first(open_invoices(session, order.id), payment.reference):
            if remaining == 0:
                break
            discount = invoice.discount_minor if _discount_applies(invoice, remaining, payment.received_at) else 0
            applied = min(remaining, invoice.open_minor - discount)
            invoice.open_minor -= applied + discount
            invoice.status = "paid" if invoice.open_minor == 0 else "partially_paid"
            session.add(invoice)
            remaining -= applied
            discounts += discount
            allocations.append(Allocation(invoice_number=invoice.number, amount_minor=applied, discount_minor=discount))
        session.add(
            Payment(
                id=payment.payment_id,
                order_id=order.id,
                customer_id=order.customer_id,
                amount_minor=amount,
                unapplied_minor=remaining,
                currency=payment.currency,
                method=payment.method.value,
                reference=payment.reference,
                received_at=payment.received_at,
            )
        )
        session.flush()
        now = datetime.now(UTC)
        for allocation in allocations:
            session.add(
                PaymentApplication(
                    payment_id=payment.payment_id,
                    invoice_number=allocation.invoice_number,
                    amount_minor=allocation.amount_minor,
                    discount_minor=allocation.discount_minor,
                    applied_at=now,
                )
            )
        applied = amount - remaining
        queue_excess(session, payment.payment_id, order.id, remaining, payment.currency)
        if _booked_as_receipt(session, payment.payment_id):
            # The money came in through cash application and sits in unapplied cash already: only what
            # reaches the invoices moves; the rest stays there, in the queue as the customer's credit.
            postings = [ledger.Posting(ledger.UNAPPLIED_CASH, debit_minor=applied)]
        else:
            postings = [
                ledger.Posting(ledger.CASH, debit_minor=amount),
                ledger.Posting(ledger.UNAPPLIED_CASH, credit_minor=remaining),
            ]
        postings += [
            ledger.Posting(ledger.DISCOUNTS_GIVEN, debit_minor=discounts),
            ledger.Posting(ledger.RECEIVABLES, credit_minor=applied + discounts),
        ]
        ledger.post(session, f"payment:{payment.payment_id}", payment.currency, postings, order_id=order.id)
        audit(
            session,
            f"payment:{payment.payment_id}",
            order.id,
            "payment_applied",
            payment.method.value,
            f"{amount} applied {amount - remaining}, discount {discounts}, unapplied {remaining}",
        )
        return BalanceChanged(allocations=allocations, unapplied_minor=remaining), True

    def _recorded(self, session: Session, payment: Payment) -> BalanceChanged:
        """The answer a first attempt gave, rebuilt from what it wrote."""
        rows = session.exec(select(PaymentApplication).where(PaymentApplication.payment_id == payment.id)).all()
        allocations = [
            Allocation(
                invoice_number=row.invoice_number,
                amount_minor=row.amount_minor,
                discount_minor=row.discount_minor,
            )
            for row in rows
        ]
        return BalanceChanged(allocations=allocations, unapplied_minor=payment.unapplied_minor)

    @activity.defn(name="queue_payment")
    def queue_payment(self, request: QueuePayment) -> None:
        """A payment the order cannot apply, into the cash-application exception queue (once)."""
        with transaction(self._engine) as session:
            queued = queue_payment(session, request.payment, request.order_id, request.reason)
        if queued:
            log(request.order_id).warning(
                "payment queued for cash application", payment_id=request.payment.payment_id, reason=request.reason
            )

    @activity.defn(name="adjust_balance")
    def adjust_balance(self, request: AdjustBalance) -> BalanceChanged:
        """A write-off, or credit notes: one per invoice touched, numbered in their own series, with the
        tax reversed alongside the net, and archived as PDF and UBL like an invoice."""
        with transaction(self._engine) as session:
            done = session.exec(
                select(BalanceAdjustment).where(BalanceAdjustment.dedupe_key == request.dedupe_key)
            ).all()
            if done:
                notes = session.exec(
                    select(CreditNote.number)
                    .where(CreditNote.dedupe_key == request.dedupe_key)
                    .order_by(col(CreditNote.number))
                ).all()
                allocations = [Allocation(invoice_number=a.invoice_number, amount_minor=a.amount_minor) for a in done]
                return BalanceChanged(
                    allocations=allocations,
                    unapplied_minor=request.amount_minor - sum(a.amount_minor for a in done),
                    documents=list(notes),
                )
            order = load_order(session, request.order_id)
            issued_on = request.issued_on or datetime.now(UTC).date()
            remaining = request.amount_minor
            allocations = []
            documents: list[str] = []
            now = datetime.now(UTC)
            for invoice in open_invoices(session, order.id):
                if remaining == 0:
                    break
                amount = min(remaining, invoice.open_minor)
                invoice.open_minor -= amount
                invoice.status = request.kind.value if invoice.open_minor == 0 else invoice.status
                session.add(invoice)
                remaining -= amount
                allocations.append(Allocation(invoice_number=invoice.number, amount_minor=amount))
                session.add(
                    BalanceAdjustment(
                        dedupe_key=request.dedupe_key,
                        kind=request.kind.value,
                        order_id=order.id,
                        invoice_number=invoice.number,
                        amount_minor=amount,
                        reason=request.reason,
                        actor=request.actor,
                        created_at=now,
                    )
                )
                if request.kind is AdjustmentKind.CREDIT_NOTE:
                    documents.append(self._credit_note(session, request, invoice, amount, issued_on))
            applied = request.amount_minor - remaining
            if request.kind is AdjustmentKind.WRITE_OFF:
                ledger.post(
                    session,
                    f"{request.kind.value}:{request.dedupe_key}",
                    order.currency,
                    [
                        ledger.Posting(ledger.BAD_DEBT, debit_minor=applied),
                        ledger.Posting(ledger.RECEIVABLES, credit_minor=applied),
                    ],
                    order_id=order.id,
                )
            audit(
                session,
                f"{request.kind.value}:{request.dedupe_key}",
                order.id,
                request.kind.value,
                request.actor,
                f"{applied}: {request.reason}" + (f" ({', '.join(documents)})" if documents else ""),
            )
        log(request.order_id).info("balance adjusted", kind=request.kind, amount_minor=applied, documents=documents)
        return BalanceChanged(allocations=allocations, unapplied_minor=remaining, documents=documents)

    def _credit_note(
        self, session: Session, request: AdjustBalance, invoice: Invoice, amount: int, issued_on: date
    ) -> str:
        return issue_credit_note(session, self._settings, request, invoice, amount, issued_on)


def issue_credit_note(
    session: Session,
    settings: Settings,
    request: AdjustBalance,
    invoice: Invoice,
    amount: int,
    issued_on: date,
    credit_account: str = ledger.RECEIVABLES,
) -> str:
    """Numbers, posts and archives one credit note. It reduces what the customer owes on the invoice
    (``RECEIVABLES``) or, for an invoice already paid, becomes the customer's credit (``UNAPPLIED_CASH``)."""
    sequence = next_number(session, settings.credit_note_series, issued_on.year)
    number = f"{settings.credit_note_series}-{issued_on.year}-{sequence:06d}"
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_number == invoice.number)).all()
    parts = split_credit(
        amount,
        invoice.total_minor,
        [(Decimal(x.tax_rate_percent), x.net_minor + x.tax_minor) for x in lines],
        invoice.currency,
    )
    net = sum(p[1] for p in parts)
    tax = sum(p[2] for p in parts)
    note = CreditNote(
        number=number,
        dedupe_key=request.dedupe_key,
        invoice_number=invoice.number,
        order_id=invoice.order_id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        net_minor=net,
        tax_minor=tax,
        total_minor=amount,
        reason=request.reason,
        actor=request.actor,
        issued_on=issued_on,
        created_at=datetime.now(UTC),
    )
    session.add(note)
    session.flush()
    ledger.post(
        session,
        f"credit_note:{number}",
        invoice.currency,
        [
            ledger.Posting(ledger.SALES_RETURNS, debit_minor=net),
            ledger.Posting(ledger.TAX_PAYABLE, debit_minor=tax),
            ledger.Posting(credit_account, credit_minor=amount),
        ],
        order_id=invoice.order_id,
        invoice_number=invoice.number,
    )
    archive(session, credit_note_document(session, settings, note, parts))
    return number


def split_credit(
    amount_minor: int, invoice_total_minor: int, gross_by_line: list[tuple[Decimal, int]], currency: str
) -> list[tuple[Decimal, int, int]]:
    """Splits a credit over the invoice's tax rates in proportion to their gross, then each share into net
    and tax at its rate: [(rate, net, tax)], summing exactly to the amount (the last rate takes the rest)."""
    by_rate: dict[Decimal, int] = {}
    for rate, gross in gross_by_line:
        by_rate[rate] = by_rate.get(rate, 0) + gross
    rates = sorted(by_rate)
    parts = []
    left = amount_minor
    for index, rate in enumerate(rates):
        if index == len(rates) - 1:
            share = left
        else:
            share = int((Decimal(amount_minor) * by_rate[rate] / invoice_total_minor).to_integral_value(ROUND_HALF_UP))
        left -= share
        tax = int((Decimal(share) * rate / (HUNDRED + rate)).to_integral_value(ROUND_HALF_UP))
        parts.append((rate, share - tax, tax))
    return [p for p in parts if p[1] or p[2]] or [(rates[0] if rates else Decimal(0), amount_minor, 0)]
