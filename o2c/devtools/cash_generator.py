"""Realistic cash-application data with ground truth, for ``o2c bench match`` and the engine's tests.

Customers have names that banks spell their own way (upper case, truncated, legal form dropped, a typo, the
words in another order) and one or two accounts; some share a word of their name with another customer, and
a share of invoices have the same round amounts, so a careless matcher would find ties to get wrong. Lines
pay by structured reference (sometimes with a typo), by invoice number in every format people type, by
nothing but the account and the amount, several invoices at once, in part, in instalments, short, over,
from an unknown account under a name variant, or are unrelated to any invoice (or, on request, come from
another firm that shares one word of a customer's name).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from models.invoicing import rf_reference
from o2c.matching import BankLine, Customer, OpenInvoice

STATEMENT_DAY = date(2026, 11, 20)
ROUND_PRICES = (4900, 9900, 10000, 12000, 19900, 25000, 49900, 50000, 99900, 100000)
_SYLLABLES = [
    "ka",
    "ro",
    "ni",
    "tel",
    "mar",
    "vix",
    "dor",
    "en",
    "sol",
    "bra",
    "qui",
    "lum",
    "fen",
    "gar",
    "hol",
    "ist",
    "jun",
    "kep",
    "lor",
    "mon",
    "nor",
    "pax",
    "rus",
    "sta",
    "tor",
    "ul",
    "vel",
    "wen",
    "xan",
    "yor",
    "zel",
    "ber",
    "cor",
    "dan",
    "fir",
    "gol",
    "hen",
]
_FORMS = ("GmbH", "AG", "Ltd", "Inc.", "LLC", "S.A.", "B.V.", "GmbH & Co. KG", "plc", "")
_GENERIC_WORDS = ("Trading", "Sons", "Handel", "Holding", "International", "Services")
# "lookalike" (not in the mix, so the benchmark's figures stay comparable): see _lookalike
MIX: dict[str, float] = {
    "reference": 0.48,
    "reference_typo": 0.03,
    "number": 0.16,
    "number_typo": 0.02,
    "account_only": 0.10,
    "several": 0.04,
    "partial": 0.04,
    "instalment": 0.04,
    "short": 0.02,
    "over": 0.02,
    "name_variant": 0.03,
    "unrelated": 0.02,
}


@dataclass(frozen=True)
class Truth:
    """What the line really pays: invoice numbers (empty for an unrelated line) and the kind it was made as."""

    invoices: tuple[str, ...]
    kind: str


@dataclass
class Dataset:
    customers: list[Customer]
    invoices: list[OpenInvoice]
    lines: list[BankLine]
    truth: dict[str, Truth]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _account(rng: random.Random) -> str:
    return "DE" + "".join(rng.choice("0123456789") for _ in range(20))


def bank_spelling(name: str, rng: random.Random) -> str:
    """How a payer's bank may render the customer's name."""
    choice = rng.randrange(5)
    if choice == 0:
        return name.upper()
    if choice == 1:
        return name.upper()[:18].strip()
    if choice == 2:
        words = name.split()
        return " ".join(words[:2]) if len(words) > 2 else name
    if choice == 3:
        words = name.split()
        return " ".join([words[1], words[0], *words[2:]]) if len(words) > 1 else name
    return name


def _typo(text: str, rng: random.Random) -> str:
    """One digit changed: the kind of slip a person makes copying a number."""
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    i = rng.choice(positions)
    return text[:i] + str((int(text[i]) + rng.randint(1, 9)) % 10) + text[i + 1 :]


def _number_as_typed(number: str, rng: random.Random) -> str:
    _, year, sequence = number.split("-")
    seq = int(sequence)
    return rng.choice(
        (
            f"Invoice {number}",
            f"INV {year}-{seq}",
            f"inv#{seq}",
            f"Rechnung Nr. {number}",
            f"payment for INV{year}{sequence} thank you",
            f"INV-{year}/{seq} order",
            f"inv no {year}-{sequence}",
        )
    )


def _rf_as_typed(reference: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
    return reference


def generate(lines: int, invoices: int | None = None, seed: int = 7, mix: dict[str, float] | None = None) -> Dataset:
    rng = random.Random(seed)
    invoice_count = invoices or lines
    mix = mix or MIX
    customers: list[Customer] = []
    names: list[str] = []
    for index in range(max(1, invoice_count // 10)):
        first_word = _word(rng) if not names or rng.random() > 0.1 else rng.choice(names).split()[0]
        name = f"{first_word} {_word(rng)} {rng.choice(_FORMS)}".strip()
        names.append(name)
        accounts = tuple(_account(rng) for _ in range(rng.choice((1, 1, 2))))
        customers.append(Customer(f"C{index:07d}", name, accounts))
    open_invoices: list[OpenInvoice] = []
    by_customer: dict[str, list[int]] = {}
    sequence = {2025: 0, 2026: 0}
    for index in range(invoice_count):
        customer = rng.choice(customers)
        year = 2025 if rng.random() < 0.1 else 2026
        sequence[year] += 1
        number = f"INV-{year}-{sequence[year]:06d}"
        total = rng.choice(ROUND_PRICES) if rng.random() < 0.15 else int(2000 * 1000 ** rng.random())
        issued = STATEMENT_DAY - timedelta(days=rng.randint(1, 90))
        discounted = rng.random() < 0.2
        open_invoices.append(
            OpenInvoice(
                number=number,
                customer_id=customer.id,
                currency="EUR",
                open_minor=total,
                total_minor=total,
                payment_reference=rf_reference(number.replace("-", "")),
                order_id=f"O{index:07d}",
                due_date=issued + timedelta(days=30),
                discount_minor=total * 2 // 100 if discounted else 0,
                discount_until=issued + timedelta(days=10) if discounted else None,
            )
        )
        by_customer.setdefault(customer.id, []).append(index)
    customer_of = {c.id: c for c in customers}
    paid = [False] * invoice_count
    order = list(range(invoice_count))
    rng.shuffle(order)
    cursor = 0
    instalments: list[tuple[int, int]] = []
    bank_lines: list[BankLine] = []
    truth: dict[str, Truth] = {}
    kinds = list(mix)
    weights = [mix[k] for k in kinds]

    def take() -> int | None:
        nonlocal cursor
        while cursor < invoice_count and paid[order[cursor]]:
            cursor += 1
        if cursor >= invoice_count:
            return None
        paid[order[cursor]] = True
        return order[cursor]

    for line_no in range(lines):
        line_id = f"L{line_no:07d}"
        kind = rng.choices(kinds, weights)[0]
        if kind == "instalment" and not instalments:
            kind = "reference"
        if kind == "unrelated":
            bank_lines.append(
                BankLine(
                    line_id,
                    rng.randint(100, 500_000),
                    "EUR",
                    STATEMENT_DAY,
                    f"{_word(rng)} {_word(rng)}",
                    _account(rng),
                    "",
                    rng.choice(("Refund", "Salary", "Deposit", "Transfer")),
                )
            )
            truth[line_id] = Truth((), kind)
            continue
        if kind == "lookalike":
            bank_lines.append(_lookalike(line_id, rng, customers, by_customer, open_invoices, paid))
            truth[line_id] = Truth((), kind)
            continue
        if kind == "instalment":
            index, rest = instalments.pop(rng.randrange(len(instalments)))
            invoice = open_invoices[index]
            customer = customer_of[invoice.customer_id]
            bank_lines.append(
                BankLine(
                    line_id,
                    rest,
                    "EUR",
                    STATEMENT_DAY,
                    customer.name,
                    customer.accounts[0],
                    invoice.payment_reference,
                    "rest of invoice",
                )
            )
            truth[line_id] = Truth((invoice.number,), kind)
            continue
        first = take()
        if first is None:
            break
        invoice = open_invoices[first]
        customer = customer_of[invoice.customer_id]
        known = rng.random() < 0.7
        account = rng.choice(customer.accounts) if known else _account(rng)
        payer = bank_spelling(customer.name, rng)
        amount = invoice.open_minor
        if invoice.discount_until and invoice.discount_until >= STATEMENT_DAY and rng.random() < 0.5:
            amount -= invoice.discount_minor
        reference, remittance = "", ""
        paid_invoices: tuple[str, ...] = (invoice.number,)
        if kind in ("reference", "partial", "short", "over"):
            reference = _rf_as_typed(invoice.payment_reference, rng)
            if kind == "partial":
                amount = invoice.open_minor * rng.randint(30, 70) // 100
                instalments.append((first, invoice.open_minor - amount))
            elif kind == "short":
                amount = invoice.open_minor - max(1, invoice.open_minor * rng.randint(1, 3) // 100)
            elif kind == "over":
                amount = invoice.open_minor + rng.randint(1, 5000)
        elif kind == "reference_typo":
            reference = _typo(invoice.payment_reference, rng)
            remittance = _number_as_typed(invoice.number, rng) if rng.random() < 0.5 else ""
        elif kind == "number":
            remittance = _number_as_typed(invoice.number, rng)
        elif kind == "number_typo":
            remittance = _typo(_number_as_typed(invoice.number, rng), rng)
        elif kind == "account_only":
            account = rng.choice(customer.accounts)
            remittance = rng.choice(("Payment", "Thank you", "", "Zahlung"))
        elif kind == "several":
            mine = [i for i in by_customer[customer.id] if not paid[i]][: rng.randint(1, 2)]
            for i in mine:
                paid[i] = True
            group = [first, *mine]
            paid_invoices = tuple(open_invoices[i].number for i in group)
            amount = sum(open_invoices[i].open_minor for i in group)
            account = rng.choice(customer.accounts) if rng.random() < 0.8 else account
            if rng.random() < 0.5:
                remittance = ", ".join(_number_as_typed(open_invoices[i].number, rng) for i in group)
        elif kind == "name_variant":
            account = _account(rng)
            payer = bank_spelling(customer.name, rng)
        bank_lines.append(BankLine(line_id, amount, "EUR", STATEMENT_DAY, payer, account, reference, remittance))
        truth[line_id] = Truth(paid_invoices, kind)
    return Dataset(customers, open_invoices, bank_lines, truth)


def _lookalike(
    line_id: str,
    rng: random.Random,
    customers: list[Customer],
    by_customer: dict[str, list[int]],
    invoices: list[OpenInvoice],
    paid: list[bool],
) -> BankLine:
    """Another firm that carries one word of a customer's name ("Brien" beside "O'Brien & Sons") paying the
    amount of one of that customer's open invoices, from an account nobody knows: not the customer's money."""
    customer = rng.choice(customers)
    still_open = [i for i in by_customer.get(customer.id, ()) if not paid[i]]
    amount = invoices[rng.choice(still_open)].open_minor if still_open else rng.randint(100, 500_000)
    word = rng.choice(customer.name.split()[:2])
    payer = rng.choice((word, word.upper(), f"{word} {rng.choice(_FORMS)}", f"{word} {rng.choice(_GENERIC_WORDS)}"))
    return BankLine(line_id, amount, "EUR", STATEMENT_DAY, payer.strip(), _account(rng), "", "Payment")


def score(proposals: Sequence[object], truth: dict[str, Truth]) -> dict[str, int]:
    """Counts for the benchmark: lines and invoices matched automatically and rightly, and wrong ones."""
    counts = {"paying_lines": 0, "auto_right": 0, "auto_wrong": 0, "invoices": 0, "invoices_auto": 0}
    for proposal in proposals:
        line_id = proposal.line_id  # type: ignore[attr-defined]
        expected = truth[line_id]
        auto = proposal.auto  # type: ignore[attr-defined]
        got = set(proposal.invoice_numbers)  # type: ignore[attr-defined]
        if expected.invoices:
            counts["paying_lines"] += 1
            counts["invoices"] += len(expected.invoices)
        if not auto:
            continue
        if got == set(expected.invoices):
            counts["auto_right"] += 1
            counts["invoices_auto"] += len(expected.invoices)
        else:
            counts["auto_wrong"] += 1
    return counts
