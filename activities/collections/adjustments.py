"""Balance adjustments: a write-off (to bad debt) or credit notes, allocated oldest invoice first, once
per key."""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio import activity

from activities import ledger
from activities.context import log
from activities.invoicing.credit_notes import issue_credit_note
from activities.invoicing.invoices import open_invoices
from activities.records import audit, load_order
from models.activity_io import AdjustBalance, AdjustmentKind, Allocation, BalanceChanged
from models.tables import BalanceAdjustment, CreditNote
from o2c.platform.config import Settings
from o2c.platform.db import transaction


class AdjustmentActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

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
                    documents.append(issue_credit_note(session, self._settings, request, invoice, amount, issued_on))
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
