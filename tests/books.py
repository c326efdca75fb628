"""The invariants of the books, checked by the ledger's property tests, the crash test and the cash-application
tests. Each is read from the book of record (the tables a person or a report reads), not from the ledger
alone: the ledger is written by the same code that writes those tables, so only the two together catch a
money event booked twice under two names, or not booked at all."""

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from activities import ledger
from models.tables import (
    BalanceAdjustment,
    CashApplication,
    CashReceipt,
    Chargeback,
    CreditNote,
    Invoice,
    LedgerEntry,
    Payment,
    PaymentApplication,
    Refund,
)

QUEUE_STATUSES = ("new", "unapplied", "part_applied")


@dataclass(frozen=True)
class Record:
    """The book of record's money events, read once per check."""

    journals: set[str]
    invoices: list[Invoice]
    payments: list[Payment]
    applications: list[PaymentApplication]
    receipts: list[CashReceipt]
    cash_applications: list[CashApplication]
    credit_notes: list[CreditNote]
    write_offs: set[str]
    refunds: list[Refund]
    chargebacks: list[Chargeback]

    @classmethod
    def read(cls, session: Session) -> "Record":
        return cls(
            journals=set(session.exec(select(LedgerEntry.journal).distinct()).all()),
            invoices=list(session.exec(select(Invoice)).all()),
            payments=list(session.exec(select(Payment)).all()),
            applications=list(session.exec(select(PaymentApplication)).all()),
            receipts=list(session.exec(select(CashReceipt).where(CashReceipt.amount_minor > 0)).all()),
            cash_applications=list(session.exec(select(CashApplication)).all()),
            credit_notes=list(session.exec(select(CreditNote)).all()),
            write_offs=set(
                session.exec(
                    select(BalanceAdjustment.dedupe_key).where(BalanceAdjustment.kind == "write_off").distinct()
                ).all()
            ),
            refunds=list(session.exec(select(Refund)).all()),
            chargebacks=list(session.exec(select(Chargeback)).all()),
        )

    @property
    def from_receipts(self) -> set[str]:
        """Payments that deliver a bank receipt's money to an order: it came in with the receipt."""
        return {a.payment_id for a in self.cash_applications}

    @property
    def queued_excess(self) -> set[str]:
        """Payments whose excess is queued as a receipt of its own (its reference)."""
        return {r.reference for r in self.receipts if r.source == "excess"}


def check_books(engine: Any, paid_in: Mapping[str, int] | None = None) -> dict[str, dict[str, int]]:
    """Per currency: the trial balance is zero, receivables equal the open invoices, unapplied cash equals
    the money received and not yet applied (customers' credit on payments and on receipts); every money
    event has its one journal and every journal its event (``journal_diff``); every amount received is
    applied, queued or refunded, and, given what customers paid, all of it was received (``money_diff``).
    Returns each currency's balances by account."""
    balances: dict[str, dict[str, int]] = {}
    with Session(engine) as session:
        for currency, account, balance in session.exec(
            select(
                LedgerEntry.currency,
                LedgerEntry.account,
                func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor),
            ).group_by(LedgerEntry.currency, LedgerEntry.account)
        ):
            balances.setdefault(currency, {})[account] = int(balance)
        record = Record.read(session)
    open_minor: Counter[str] = Counter()
    for invoice in record.invoices:
        open_minor[invoice.currency] += invoice.open_minor
    unapplied: Counter[str] = Counter()
    for payment in record.payments:
        if payment.id not in record.queued_excess:
            unapplied[payment.currency] += payment.unapplied_minor
    for receipt in record.receipts:
        unapplied[receipt.currency] += receipt.unapplied_minor
    for currency, accounts in balances.items():
        assert sum(accounts.values()) == 0, f"{currency} does not balance"
        assert accounts.get(ledger.RECEIVABLES, 0) == open_minor[currency], f"{currency} receivables"
        assert -accounts.get(ledger.UNAPPLIED_CASH, 0) == unapplied[currency], f"{currency} unapplied"
    journals = _journal_diff(record)
    assert not journals, "journals and money events differ:\n" + "\n".join(journals)
    money = _money_diff(record, paid_in)
    assert not money, "money unaccounted for:\n" + "\n".join(money.values())
    return balances


def journal_diff(engine: Any) -> list[str]:
    """Each money event in the book of record against the journals in the ledger: an event without its
    journal, or a journal without its event (a second posting of one event under another name shows up as
    the latter). Empty when they agree."""
    with Session(engine) as session:
        return _journal_diff(Record.read(session))


def money_diff(engine: Any, paid_in: Mapping[str, int] | None = None) -> dict[str, str]:
    """Per currency, where the money customers sent went: received = applied + queue + in transit +
    refunded, each read from the book of record; with ``paid_in`` (what the test's customers sent, per
    currency), also received = paid in. A readable line per currency that does not add up.

    received: payments that brought money in (not those delivering a bank receipt) and receipts (not those
    holding a payment's excess, whose money the payment brought); applied: what reached invoices, less
    what credit notes on paid invoices gave back; queue: what finance sees unapplied on open receipts; in
    transit: receipt applications not yet delivered to their order, and refunds on their way; refunded:
    refunds that succeeded."""
    with Session(engine) as session:
        return _money_diff(Record.read(session), paid_in)


def _journal_diff(record: Record) -> list[str]:
    expected: dict[str, str] = {}
    allowed: set[str] = set()
    for invoice in record.invoices:
        if invoice.total_minor:
            expected[f"invoice:{invoice.number}"] = f"invoice {invoice.number}"
    reached: Counter[str] = Counter()
    for application in record.applications:
        reached[application.payment_id] += application.amount_minor + application.discount_minor
    from_receipts = record.from_receipts
    for payment in record.payments:
        # Money from a receipt is in the ledger already: its payment journal only moves what it applied.
        if payment.id not in from_receipts or reached[payment.id]:
            expected[f"payment:{payment.id}"] = f"payment {payment.id}"
    for receipt in record.receipts:
        if not _is_excess(receipt):
            expected[f"receipt:{receipt.id}"] = f"receipt {receipt.id}"
    for note in record.credit_notes:
        if note.total_minor:
            expected[f"credit_note:{note.number}"] = f"credit note {note.number}"
    for key in record.write_offs:
        expected[f"write_off:{key}"] = f"write-off {key}"
    for refund in record.refunds:
        if refund.status == "succeeded":
            expected[f"refund:{refund.key}"] = f"refund {refund.key}"
        elif refund.status == "failed":
            # A refund that failed after it had succeeded is booked and reversed; one that never succeeded
            # is booked not at all.
            allowed.add(f"refund:{refund.key}")
            if f"refund:{refund.key}" in record.journals:
                expected[f"refund:{refund.key}:failed"] = f"failed refund {refund.key}"
    for chargeback in record.chargebacks:
        expected[f"chargeback:{chargeback.dispute_id}"] = f"chargeback {chargeback.dispute_id}"
        if chargeback.status in ("won", "lost"):
            name = f"chargeback:{chargeback.dispute_id}:{chargeback.status}"
            expected[name] = f"chargeback {chargeback.dispute_id} {chargeback.status}"
    posted = record.journals
    missing = [f"no journal {name} for {what}" for name, what in sorted(expected.items()) if name not in posted]
    stray = [f"journal {name} has no money event" for name in sorted(posted - set(expected) - allowed)]
    return missing + stray


def _money_diff(record: Record, paid_in: Mapping[str, int] | None) -> dict[str, str]:
    figures: dict[str, Counter[str]] = defaultdict(Counter)
    from_receipts = record.from_receipts
    currency_of = {p.id: p.currency for p in record.payments}
    for payment in record.payments:
        if payment.id not in from_receipts:
            figures[payment.currency]["payments"] += payment.amount_minor
    for receipt in record.receipts:
        if not _is_excess(receipt):
            figures[receipt.currency]["receipts"] += receipt.amount_minor
        if receipt.status in QUEUE_STATUSES:
            figures[receipt.currency]["queue"] += receipt.unapplied_minor
    for application in record.applications:
        figures[currency_of[application.payment_id]]["applied"] += application.amount_minor
    for pending in record.cash_applications:
        if pending.status == "pending" and pending.payment_id not in currency_of:
            figures[pending.currency]["in transit"] += pending.amount_minor
    for refund in record.refunds:
        if refund.credit_note_number is not None:
            figures[refund.currency]["applied"] -= refund.amount_minor
        if refund.status == "succeeded":
            figures[refund.currency]["refunded"] += refund.amount_minor
        elif refund.status in ("pending", "sending"):
            figures[refund.currency]["in transit"] += refund.amount_minor
    diffs = {}
    for currency in sorted(set(figures) | set(paid_in or {})):
        f = figures[currency]
        received = f["payments"] + f["receipts"]
        went = f["applied"] + f["queue"] + f["in transit"] + f["refunded"]
        lines = []
        if received != went:
            lines.append(
                f"received {received} (payments {f['payments']}, receipts {f['receipts']}) != applied "
                f"{f['applied']} + queue {f['queue']} + in transit {f['in transit']} + refunded {f['refunded']}"
                f" = {went}: {received - went} not accounted for"
            )
        if paid_in is not None and paid_in.get(currency, 0) != received:
            lines.append(f"customers paid {paid_in.get(currency, 0)}, the books received {received}")
        if lines:
            diffs[currency] = f"{currency}: " + "; ".join(lines)
    return diffs


def _is_excess(receipt: CashReceipt) -> bool:
    """A receipt that queues a customer's credit booked by another journal: what a recorded payment (its
    reference) could not apply, or a credit note or refund on a paid invoice that went to no card."""
    return receipt.source in ("excess", "credit")
