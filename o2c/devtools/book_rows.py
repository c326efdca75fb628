"""The rows of ``o2c bench book``, one customer at a time, as the activities would have written them: each
invoice with its order, lines, email, audit entry and journal; its payment (by card, by debit, or by bank
transfer, half of those through a bank statement's receipt and cash application), early-payment discount,
credit note, write-off or dispute; an open invoice's dunning steps, collection task, contact notes and
approval request; unapplied receipts for the cash-application queue; orders on a credit hold."""

import json
import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from activities import ledger
from models.invoicing import rf_reference
from o2c.devtools.book_plan import BANK, CURRENCIES, METHODS, NEVER, WRITTEN_OFF, Plan

COLUMNS = {  # the tables the book fills, in loading order, with the columns it writes (the rest: defaults)
    "customers": "id name email currency credit_limit_minor risk_class blocked billing_name billing_email "
    "billing_address vat_id payment_terms dunning_segment created_at",
    "customer_changes": "change_id customer_id field old_value new_value actor reason created_at",
    "customer_bank_accounts": "customer_id account learned_from created_at",
    "orders": "id customer_id currency total_minor credit_reserved_minor status payment_method net_days "
    "end_of_month discount_percent discount_days invoicing fingerprint placed_at closed_at",
    "order_lines": "order_id line_no sku description quantity unit_price tax_rate_percent discount_percent",
    "credit_decisions": "dedupe_key order_id customer_id stage decision decided_by reason currency exposure_minor "
    "limit_minor open_receivables_minor approved_not_invoiced_minor order_minor overdue_invoices risk_class "
    "risk_score risk_source assessment created_at",
    "invoices": "number order_id customer_id invoice_key currency net_minor tax_minor total_minor open_minor "
    "discount_minor discount_until issued_on due_date payment_reference status kind created_at",
    "invoice_lines": "invoice_number line_no sku description quantity unit_price discount_minor net_minor "
    "tax_rate_percent tax_minor",
    "credit_notes": "number dedupe_key invoice_number order_id customer_id currency net_minor tax_minor "
    "total_minor reason actor issued_on created_at",
    "balance_adjustments": "dedupe_key kind order_id invoice_number amount_minor reason actor created_at",
    "payments": "id order_id customer_id amount_minor unapplied_minor currency method reference received_at",
    "payment_applications": "payment_id invoice_number amount_minor discount_minor applied_at",
    "bank_statements": "key format statement_id account digest lines new_lines imported_by imported_at",
    "cash_receipts": "id source statement_key location booked_on amount_minor unapplied_minor currency payer_name "
    "payer_account reference remittance bank_reference end_to_end_id status customer_id tier confidence rule "
    "suggestion flags reason created_at",
    "cash_applications": "receipt_id payment_id order_id amount_minor currency invoice_numbers source actor "
    "confidence status created_at delivered_at",
    "disputes": "order_id dispute_id amount_minor reason status opened_by resolved_by opened_at resolved_at",
    "dunning_events": "order_id invoice_number step_name level amount_due_minor escalated created_at",
    "collection_tasks": "order_id customer_id invoice_number step_name amount_due_minor status created_at",
    "contact_notes": "note_id customer_id order_id kind outcome note follow_up_on actor created_at",
    "approval_requests": "id kind order_id customer_id invoice_number amount_minor currency reason requested_by "
    "status created_at",
    "email_outbox": "key order_id kind recipient subject status provider_message_id created_at sent_at",
    "audit_log": "dedupe_key order_id event actor detail created_at",
    "ledger_entries": "journal line_no account debit_minor credit_minor currency order_id invoice_number posted_at",
    "number_series": "series year last_value",
}
LEGAL = {"EUR": ["GmbH", "SARL", "B.V.", "S.p.A."], "USD": ["Inc.", "LLC", "Corp."], "GBP": ["Ltd", "PLC"]}
LEGAL["JPY"] = ["K.K.", "Co., Ltd."]
FIRST = "North South Blue Silver Golden Alpine Harbor Pioneer Summit Vertex Atlas Nova Orion Cedar Maple Oak"
SECOND = "wind field bridge point gate works line ridge star wave rock haven crest brook vale"
STEMS = [a + b for a in FIRST.split() for b in SECOND.split()]
TRADES = ["Trading", "Logistics", "Industries", "Foods", "Systems", "Supplies", "Partners", "Retail"]
BRANCHES = ["", "", "", " (Hamburg)", " (Lyon)", " (Chicago)", " (Leeds)", " (Osaka)", " (Milan)", " (Austin)"]
# step, days after the due date, level, template (the default dunning policy, models/policy.py)
DUNNING = [("pre-due", -3, 0, "pre_due"), ("overdue", 1, 1, "overdue"), ("second", 7, 2, "overdue")]
DUNNING += [("third", 14, 3, "overdue"), ("final", 30, 4, "final_notice"), ("escalation", 45, 5, "escalation")]
DISPUTES = ["goods damaged in transit", "price differs from the quote", "quantity short", "not ordered"]
MATCHER = "cash-application"


class Files:
    """One file per table, rows in COPY's text format (our values hold no tab, newline or backslash)."""

    def __init__(self, folder: Path) -> None:
        self.files: dict[str, IO[str]] = {t: (folder / t).open("w", buffering=1 << 20) for t in COLUMNS}
        self.rows: Counter[str] = Counter()

    def add(self, table: str, *values: Any) -> None:
        """One row; None is NULL, and PostgreSQL reads Python's True and False as booleans."""
        self.files[table].write("\t".join(["\\N" if v is None else str(v) for v in values]) + "\n")
        self.rows[table] += 1

    def post(
        self,
        journal: str,
        currency: str,
        lines: list[tuple[str, int, int]],
        order: str | None,
        at: str,
        invoice: str | None = None,
    ) -> None:
        """A journal as ``ledger.post`` writes it: balanced, zero lines left out."""
        lines = [line for line in lines if line[1] or line[2]]
        assert sum(d for _, d, _ in lines) == sum(c for _, _, c in lines), journal
        for line_no, (account, debit, credit) in enumerate(lines, start=1):
            self.add("ledger_entries", journal, line_no, account, debit, credit, currency, order, invoice, at)

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def _at(day: date, minute: int) -> str:
    return f"{day.isoformat()} {8 + minute // 60 % 10:02d}:{minute % 60:02d}:00+00"


class Customer:
    def __init__(self, plan: Plan, c: int, rng: random.Random) -> None:
        profile = plan.profiles[c]
        self.id, self.currency, self.profile = f"CUST-{c:06d}", profile.currency, profile
        _, _, self.taxes, self.scale = next(x for x in CURRENCIES if x[0] == profile.currency)
        stem = STEMS[int(len(STEMS) * rng.random() ** 2)]  # some trading names are far more common
        self.name = f"{stem} {rng.choice(TRADES)} {rng.choice(LEGAL[self.currency])}{rng.choice(BRANCHES)}"
        self.email = f"ap@{stem.lower()}-{c}.example"
        self.price = max(1, int(rng.lognormvariate(3.3, 0.9) * self.scale * (150 if self.scale == 1 else 1)))
        self.limit = self.price * 40 * max(3, (plan.first[c + 1] - plan.first[c]) // 8)
        self.account = f"DE{c:020d}"


class Writer:
    """Writes the book customer by customer (``customer``), then what belongs to no one customer (``finish``)."""

    def __init__(self, plan: Plan, files: Files, seed: int) -> None:
        self.plan, self.f, self.seed, self.today = plan, files, seed, plan.today
        self.credit_notes: Counter[int] = Counter()  # numbers per year
        self.receipts, self.orders = 0, plan.size.invoices
        self.statement_lines: Counter[date] = Counter()

    def customer(self, c: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + c)
        cust, f = Customer(self.plan, c, rng), self.f
        net, eom, percent, days = cust.profile.terms
        terms = {"net_days": net, "end_of_month": eom, "discount_percent": str(percent), "discount_days": days}
        since, mailbox = self.plan.start - timedelta(days=rng.randrange(900)), cust.email.removeprefix("ap@")
        f.add("customers", cust.id, cust.name, cust.email, cust.currency, cust.limit,
              rng.choices(["standard", "low", "high"], [80, 12, 8])[0], rng.random() < 0.003, None,
              f"invoices@{mailbox}" if rng.random() < 0.3 else None, f"{c} Market Street",
              f"EU{c:09d}" if cust.currency != "USD" else None, json.dumps(terms), None, _at(since, c))  # fmt: skip
        if rng.random() < 0.05:
            changed = self.today - timedelta(days=rng.randrange(300))
            f.add("customer_changes", f"change-{c}", cust.id, "billing_email", None, f"ap2@{mailbox}", "finance",
                  "new accounts payable mailbox", _at(changed, c))  # fmt: skip
        if cust.profile.method == BANK:
            f.add("customer_bank_accounts", cust.id, cust.account, "bench", _at(since, c))
        if rng.random() < 0.1:  # a statement every month, sent by ``o2c finance statement``: no order of its own
            for month in range(1, (self.today - self.plan.start).days // 30):
                at, key = _at(self.today - timedelta(days=30 * month), c), f"statement:{cust.id}:{month}"
                self.email(key, None, "statement", cust.email, f"Statement of account {cust.id}", at)
                f.add("audit_log", f"audit:{key}", None, "statement_sent", "finance", cust.id, at)
        for i in range(self.plan.first[c], self.plan.first[c + 1]):
            self.invoice(rng, cust, i)
        for kind in self.plan.extras.get(c, []):
            self.order_not_invoiced(rng, cust, kind)
        if rng.random() < self.plan.queue * 0.8 / self.plan.size.customers:
            amount = cust.price * rng.randint(1, 30)
            self.receipt(rng, cust, amount, amount, self.today - timedelta(days=rng.randrange(60)), "unapplied", "")

    def lines(self, rng: random.Random, cust: Customer, order: str, invoice: str | None) -> tuple[int, int]:
        """An order's lines, and the invoice's when it is invoiced; its net and tax (rounded per line)."""
        net = tax = 0
        for line_no, item in enumerate(rng.sample(range(500), rng.choice((1, 1, 2, 2, 3, 4))), start=1):
            sku, (rate, points), quantity = f"SKU-{item:04d}", rng.choice(cust.taxes), rng.randint(1, 20)
            price = max(1, int(cust.price * rng.lognormvariate(0, 0.5)))
            unit = str(price) if cust.scale == 1 else f"{price // 100}.{price % 100:02d}"
            line_net = quantity * price
            line_tax = (line_net * points + 5000) // 10000
            self.f.add("order_lines", order, line_no, sku, f"Item {sku}", quantity, unit, rate, "0")
            if invoice:
                self.f.add("invoice_lines", invoice, line_no, sku, f"Item {sku}", quantity, unit, 0, line_net, rate,
                           line_tax)  # fmt: skip
            net, tax = net + line_net, tax + line_tax
        return net, tax

    def order(self, cust: Customer, order: str, total: int, status: str, placed: date, closed: date | None,
              reserved: int = 0) -> None:  # fmt: skip
        net, eom, percent, days = cust.profile.terms
        self.f.add("orders", order, cust.id, cust.currency, total, reserved, status, METHODS[cust.profile.method][0],
                   net, eom, str(percent), days, "on_completion", order.encode().hex(), _at(placed, 0),
                   _at(closed, 599) if closed else None)  # fmt: skip

    def decide(self, rng: random.Random, cust: Customer, order: str, total: int, decision: str, at: str) -> None:
        """The credit engine's decision as ``write_decision`` keeps it, with the assessment's JSON."""
        receivables = cust.limit if decision != "approve" else rng.randrange(cust.limit // 2 + 1)
        reason = "within the credit limit" if decision == "approve" else "exposure would exceed the credit limit"
        risk = {"score": rng.randint(5, 60), "source": "payment-history", "invoices_considered": rng.randint(0, 50)}
        figures = {"currency": cust.currency, "open_receivables_minor": receivables, "approved_not_invoiced_minor": 0,
                   "order_minor": total, "overdue_invoices": 0, "risk_class": "standard", "risk": risk}  # fmt: skip
        exposure = receivables + total
        assessment = {"decision": decision, "reason": reason, "exposure_minor": exposure, "limit_minor": cust.limit}
        self.f.add("credit_decisions", f"credit-check:{order}", order, cust.id, "order", decision, "credit-engine",
                   reason, cust.currency, exposure, cust.limit, receivables, 0, total, 0, "standard", risk["score"],
                   risk["source"], json.dumps(assessment | {"figures": figures}), at)  # fmt: skip
        if decision != "approve":
            self.f.add("audit_log", f"credit:credit-check:{order}", order, f"credit_{decision}", "credit-engine",
                       f"order: {reason}", at)  # fmt: skip

    def invoice(self, rng: random.Random, cust: Customer, i: int) -> None:
        """Invoice ``i`` and its order, then what happened to it: paid (perhaps with the discount), credited,
        written off, or still open (perhaps part paid, disputed, dunned)."""
        plan, f, today = self.plan, self.f, self.today
        issued, due, pay = date.fromordinal(plan.issue[i]), date.fromordinal(plan.due[i]), plan.pay[i]
        number, order = f"INV-{issued.year}-{plan.number[i]:06d}", f"SO-{i + 1:07d}"
        at = _at(issued, rng.randrange(600))
        net, tax = self.lines(rng, cust, order, number)
        total = open_minor = net + tax
        percent, days = cust.profile.terms[2:]
        discount = (total * percent + 50) // 100
        status, closed, on, disputed = "open", None, issued, False
        if total >= 100 and rng.random() < 0.03:  # a credit note; in full only on an invoice that will not stay open
            full = not plan.is_open[i] and pay != WRITTEN_OFF and rng.random() < 0.2
            on = min(issued + timedelta(days=rng.randint(3, 20)), today)
            amount = total if full else total * rng.randint(5, 30) // 100
            open_minor -= self.credit_note(rng, cust, order, number, amount, total, tax, on)
            status, closed = ("credit_note", on) if full else (status, None)
        if plan.is_open[i]:
            if open_minor > 1 and rng.random() < 0.1:  # part paid, 20 to 80 % of it: it stays open
                on = min(today, on + timedelta(days=rng.randrange((today - on).days + 1)))
                open_minor -= self.pay(rng, cust, order, number, max(1, open_minor * rng.randint(20, 80) // 100), 0, on)
                status = "partially_paid"
            disputed = self.still_open(rng, cust, order, number, issued, due, open_minor)
        elif not closed and pay in (WRITTEN_OFF, NEVER, NEVER + 1):
            closed, status = min(today, due + timedelta(days=150)), "write_off"
            self.write_off(cust, order, number, open_minor, _at(closed, 300))
            open_minor = 0
        elif not closed:
            paid = max(on, date.fromordinal(min(pay, today.toordinal())))  # after any credit note
            taken = discount if days and open_minor == total and (paid - issued).days <= days else 0
            self.pay(rng, cust, order, number, open_minor - taken, taken, paid)
            closed, status, open_minor = paid, "paid", 0
        if status in ("paid", "write_off") and rng.random() < 0.002:
            self.dispute(rng, order, number, total, issued + timedelta(days=5), "rejected")
        final = {"paid": "PAID", "credit_note": "CREDITED", "write_off": "WRITTEN_OFF"}.get(status)
        self.order(cust, order, total, final or ("DISPUTED" if disputed else "OVERDUE" if due < today else "INVOICED"),
                   issued - timedelta(days=rng.randrange(10)), closed)  # fmt: skip
        self.decide(rng, cust, order, total, "approve", at)
        f.add("invoices", number, order, cust.id, "order", cust.currency, net, tax, total, open_minor,
              discount if days else 0, issued + timedelta(days=days) if days else None, issued, due,
              rf_reference(number.replace("-", "")[-21:]), status, "goods", at)  # fmt: skip
        f.post(f"invoice:{number}", cust.currency,
               [(ledger.RECEIVABLES, total, 0), (ledger.REVENUE, 0, net), (ledger.TAX_PAYABLE, 0, tax)], order, at,
               number)  # fmt: skip
        f.add("audit_log", f"invoice:{number}", order, "invoice_issued", "workflow", f"{number} total {total}", at)
        self.email(f"{order}:invoice:{number}", order, "invoice", cust.email, f"Invoice {number}", at)

    def email(self, key: str, order: str | None, kind: str, to: str, subject: str, at: str) -> None:
        self.f.add("email_outbox", key, order, kind, to, subject, "sent", f"sg.{key}"[:100], at, at)

    def pay(self, rng: random.Random, cust: Customer, order: str, number: str, amount: int, discount: int,
            on: date) -> int:  # fmt: skip
        """A payment on one invoice, as ``apply_payment`` books it; half the bank transfers come through a bank
        receipt (whose journal brought the money into unapplied cash already). Returns what it settled."""
        at, channel = _at(on, rng.randrange(600)), METHODS[cust.profile.method][1]
        payment, money_in = f"pay-{number}", ledger.CASH
        if cust.profile.method == BANK and rng.random() < 0.5:
            extra = cust.price if rng.random() < 0.01 else 0  # overpaid: the rest waits in the queue
            receipt = self.receipt(rng, cust, amount + extra, extra, on, "part_applied" if extra else "applied", number)
            payment, money_in = f"{receipt}:1", ledger.UNAPPLIED_CASH
            self.f.add("cash_applications", receipt, payment, order, amount, cust.currency, number,
                       "auto tier 1: reference", MATCHER, 1.0, "delivered", at, at)  # fmt: skip
        self.f.add("payments", payment, order, cust.id, amount, 0, cust.currency, channel, number, at)
        self.f.add("payment_applications", payment, number, amount, discount, at)
        self.f.post(f"payment:{payment}", cust.currency, [(money_in, amount, 0), (ledger.DISCOUNTS_GIVEN, discount, 0),
                    (ledger.RECEIVABLES, 0, amount + discount)], order, at)  # fmt: skip
        self.f.add("audit_log", f"payment:{payment}", order, "payment_applied", channel,
                   f"{amount} applied {amount}, discount {discount}, unapplied 0", at)  # fmt: skip
        return amount + discount

    def receipt(self, rng: random.Random, cust: Customer | None, amount: int, unapplied: int, on: date, status: str,
                invoice: str) -> str:  # fmt: skip
        """A bank statement's line, booked from cash to unapplied cash as ``post_receipt`` does."""
        self.receipts += 1
        self.statement_lines[on] += 1
        receipt, at, currency = (
            f"BANK-{self.receipts:08d}",
            _at(on, rng.randrange(600)),
            cust.currency if cust else "EUR",
        )
        reason = {"applied": "", "part_applied": "overpaid: held as the customer's credit"}.get(status)
        reason = reason if reason is not None else "the amount matches no open invoice of the payer"
        self.f.add("cash_receipts", receipt, "bank", f"S{on:%Y%m%d}", f"line {self.statement_lines[on]}", on, amount,
                   unapplied, currency, cust.name if cust else f"Unknown payer {self.receipts}",
                   cust.account if cust else f"GB{self.receipts:020d}", invoice or f"payment {self.receipts}",
                   f"{invoice} thank you" if invoice else "", f"BR{self.receipts}", "", status,
                   cust.id if cust else None, 1 if invoice else 3, 1.0 if invoice else 0.4,
                   "reference" if invoice else "payer name", "", "", reason, at)  # fmt: skip
        self.f.post(f"receipt:{receipt}", currency, [(ledger.CASH, amount, 0), (ledger.UNAPPLIED_CASH, 0, amount)],
                    None, at)  # fmt: skip
        return receipt

    def credit_note(self, rng: random.Random, cust: Customer, order: str, number: str, amount: int, total: int,
                    tax: int, on: date) -> int:  # fmt: skip
        self.credit_notes[on.year] += 1
        note, key, at = f"CN-{on.year}-{self.credit_notes[on.year]:06d}", f"{order}:credit-note:1", _at(on, 480)
        note_tax, reason = tax * amount // total, rng.choice(DISPUTES)
        self.f.add("credit_notes", note, key, number, order, cust.id, cust.currency, amount - note_tax, note_tax,
                   amount, reason, "finance-manager", on, at)  # fmt: skip
        self.f.add("balance_adjustments", key, "credit_note", order, number, amount, reason, "finance-manager", at)
        self.f.post(f"credit_note:{note}", cust.currency, [(ledger.SALES_RETURNS, amount - note_tax, 0),
                    (ledger.TAX_PAYABLE, note_tax, 0), (ledger.RECEIVABLES, 0, amount)], order, at, number)  # fmt: skip
        self.f.add(
            "audit_log", f"credit_note:{key}", order, "credit_note", "finance-manager", f"{amount}: {reason}", at
        )
        self.email(f"{order}:credit-note:{note}", order, "credit_note", cust.email, f"Credit note {note}", at)
        return amount

    def write_off(self, cust: Customer, order: str, number: str, amount: int, at: str) -> None:
        key, reason = f"{order}:write-off:1", "uncollectable: the customer stopped paying"
        self.f.add("balance_adjustments", key, "write_off", order, number, amount, reason, "finance-manager", at)
        self.f.post(f"write_off:{key}", cust.currency, [(ledger.BAD_DEBT, amount, 0), (ledger.RECEIVABLES, 0, amount)],
                    order, at)  # fmt: skip
        self.f.add("audit_log", f"write_off:{key}", order, "write_off", "finance-manager", f"{amount}: {reason}", at)

    def dispute(self, rng: random.Random, order: str, number: str, amount: int, on: date, status: str) -> None:
        resolved = _at(on + timedelta(days=rng.randint(3, 30)), 120) if status != "open" else None
        self.f.add("disputes", order, f"D-{number}", amount, rng.choice(DISPUTES), status, "ar-clerk",
                   resolved and "credit-controller", _at(on, 120), resolved)  # fmt: skip

    def still_open(self, rng: random.Random, cust: Customer, order: str, number: str, issued: date, due: date,
                   amount: int) -> bool:  # fmt: skip
        """An open invoice's dunning steps so far, its escalation's task, contact notes, a request for a
        write-off; and whether it is disputed."""
        late = (self.today - due).days
        for step, offset, level, template in DUNNING:
            if late < offset:
                break
            at, escalated = _at(due + timedelta(days=offset), 60), step == "escalation"
            self.f.add("dunning_events", order, number, step, level, amount, escalated, at)
            self.email(f"dunning:{number}:{step}", order, f"dunning_{template}",
                       "collections@o2c.example" if escalated else cust.email, f"{template}: {number}", at)  # fmt: skip
            if escalated:
                self.f.add("collection_tasks", order, cust.id, number, step, amount, "open", at)
        disputed = rng.random() < 0.01
        if disputed:
            self.dispute(rng, order, number, amount, min(self.today, issued + timedelta(days=7)), "open")
        if late > 14 and rng.random() < 0.15:
            kind = rng.choice(["call", "email", "promise"])
            follow = self.today + timedelta(days=rng.randint(1, 14))
            self.f.add("contact_notes", f"note-{number}", cust.id, order, kind, "reached" if kind != "email" else "",
                       f"{kind} about {number}", follow, "collector", _at(due + timedelta(days=14), 200))  # fmt: skip
        if late > 90 and rng.random() < 0.01:
            self.f.add("approval_requests", f"req-{number}", "write_off", order, cust.id, number, amount, cust.currency,
                       "customer insolvent", "collector", "pending", _at(self.today, 100))  # fmt: skip
        return disputed

    def order_not_invoiced(self, rng: random.Random, cust: Customer, kind: str) -> None:
        self.orders += 1
        order = f"SO-{self.orders:07d}"
        placed = self.today - timedelta(days=rng.randrange(14 if kind != "CANCELLED" else 300))
        net, tax = self.lines(rng, cust, order, None)
        closed = placed + timedelta(days=2) if kind in ("CANCELLED", "REJECTED") else None
        self.order(cust, order, net + tax, kind, placed, closed, net + tax if kind == "AWAITING_SHIPMENT" else 0)
        decision = {"CREDIT_HOLD": "hold", "REJECTED": "reject"}.get(kind, "approve")
        self.decide(rng, cust, order, net + tax, decision, _at(placed, 10))
        if decision == "hold":
            self.email(f"{order}:credit-hold", order, "credit_hold", "credit@o2c.example", f"Credit hold {order}",
                       _at(placed, 11))  # fmt: skip

    def finish(self) -> None:
        """The receipts of payers nobody knows, the statements the receipts came on, the number series."""
        rng = random.Random(self.seed)
        for _ in range(self.plan.queue // 5):
            amount = rng.randint(1_000, 500_000)
            self.receipt(rng, None, amount, amount, self.today - timedelta(days=rng.randrange(90)), "unapplied", "")
        for day, lines in sorted(self.statement_lines.items()):
            self.f.add("bank_statements", f"S{day:%Y%m%d}", "camt053", f"STMT-{day}", "DE89370400440532013000",
                       f"{day.toordinal():064x}", lines, lines, "bench", _at(day, 599))  # fmt: skip
        for year, last in sorted(self.plan.last_number.items()):
            self.f.add("number_series", "INV", year, last)
        for year, last in sorted(self.credit_notes.items()):
            self.f.add("number_series", "CN", year, last)
