"""What ``o2c bench book`` decides for the whole book before it writes a row: how many invoices each
customer has (one customer far larger than the rest), each invoice's issue, due and payment day, which
invoices stay open, and their gapless numbers in order of issue."""

import random
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from models.invoicing import due_date

# currency, share of customers, tax rates (as ordered, and in basis points), minor units per major unit
CURRENCIES = [("EUR", 45, [("19", 1900), ("7", 700)], 100), ("USD", 30, [("0", 0), ("8.25", 825)], 100)]
CURRENCIES += [("GBP", 15, [("20", 2000), ("0", 0)], 100), ("JPY", 10, [("10", 1000), ("8", 800)], 1)]
# net days, end of month, discount %, discount days; and how often customers have them
TERMS = [(30, False, 0, 0), (30, False, 2, 10), (45, True, 0, 0), (60, False, 0, 0), (14, False, 0, 0)]
TERMS_WEIGHTS = [40, 15, 15, 20, 10]
# the order's payment method and the payment's channel; cards and debits are charged at invoicing
METHODS = [("card_on_file", "card"), ("debit_on_file", "direct_debit"), ("bank_transfer", "bank_transfer")]
BANK = 2
NEVER, WRITTEN_OFF = 10**7, -1  # payment days that are no day: never paid, or written off instead


@dataclass(frozen=True)
class Size:
    customers: int = 100_000
    invoices: int = 1_000_000
    open: int = 200_000
    years: int = 2
    seed: int = 7


@dataclass(frozen=True)
class Profile:
    """A customer as far as their invoices' days go (their other rows are drawn as they are written)."""

    currency: str
    terms: tuple[int, bool, int, int]
    method: int  # index in METHODS
    late: tuple[int, int]  # days beyond the due date they pay, from..to
    never: float  # chance an invoice is never paid


class Plan:
    """Customer ``c`` has invoices ``first[c]`` to ``first[c + 1] - 1``, issued in that order. The ``open``
    invoices paid last stay open: the newest, the late payers' and the never paid, among them the last
    ``whale_open`` of customer 0, whose invoices are a fiftieth of the book."""

    def __init__(self, size: Size, today: date) -> None:
        if size.customers < 2 or not 0 < size.open < size.invoices:
            raise ValueError("the book needs two customers or more, and some invoices open and some not")
        rng = random.Random(size.seed)
        self.size, self.today, self.start = size, today, today - timedelta(days=365 * size.years)
        span = (today - self.start).days
        whale = max(1, size.invoices // 50)
        self.whale_open = min(5_000, size.open // 40, whale)
        weights = [rng.lognormvariate(0, 1.2) for _ in range(size.customers - 1)]
        raw = [w * (size.invoices - whale) / sum(weights) for w in weights]
        counts = [whale, *map(int, raw)]
        for k in sorted(range(len(raw)), key=lambda k: int(raw[k]) - raw[k])[: size.invoices - sum(counts)]:
            counts[k + 1] += 1  # the largest remainders, so the counts add up
        self.first = array("l", [0])
        self.profiles: list[Profile] = []
        self.issue, self.due, self.pay = array("l"), array("l"), array("l")
        for c, count in enumerate(counts):
            self.first.append(self.first[-1] + count)
            profile = self._profile(rng, c)
            self.profiles.append(profile)
            for n, issued in enumerate(
                sorted(self.start.toordinal() + int(span * rng.random() ** 0.8) for _ in range(count))
            ):
                due = due_date(date.fromordinal(issued), *profile.terms[:2]).toordinal()
                charged = profile.method != BANK and rng.random() > 0.01
                pay = issued if charged else due + rng.randint(*profile.late)
                if rng.random() < profile.never:
                    pay = WRITTEN_OFF if today.toordinal() - issued > 300 and rng.random() < 0.5 else NEVER
                if c == 0 and n >= count - self.whale_open:
                    pay = NEVER + 1
                self.issue.append(issued)
                self.due.append(due)
                self.pay.append(pay)
        self.is_open = bytearray(size.invoices)
        for i in sorted(range(size.invoices), key=self.pay.__getitem__)[size.invoices - size.open :]:
            self.is_open[i] = 1
        self.number = array("l", bytes(8 * size.invoices))
        self.last_number: Counter[int] = Counter()  # per year
        for i in sorted(range(size.invoices), key=self.issue.__getitem__):
            year = date.fromordinal(self.issue[i]).year
            self.last_number[year] += 1
            self.number[i] = self.last_number[year]
        n = size.invoices
        kinds = ["CREDIT_HOLD"] * max(1, n // 2000) + ["AWAITING_SHIPMENT"] * (n // 500)
        self.extras: dict[int, list[str]] = defaultdict(list)  # orders not invoiced (yet), by customer
        for j, kind in enumerate(kinds + ["CANCELLED"] * (n // 1000) + ["REJECTED"] * (n // 2000)):
            self.extras[1 + j * 7919 % (size.customers - 1)].append(kind)
        self.queue = max(1, n // 200)  # unapplied receipts waiting for cash application

    @staticmethod
    def _profile(rng: random.Random, c: int) -> Profile:
        currency = rng.choices([x[0] for x in CURRENCIES], [x[1] for x in CURRENCIES])[0]
        terms = rng.choices(TERMS, TERMS_WEIGHTS)[0] if c else (60, True, 0, 0)
        method = rng.choices(range(3), [20, 10, 70])[0] if c else BANK
        kind = rng.choices(range(4), [60, 30, 9, 1])[0] if c else 1  # prompt, average, late, bad
        late = [(-8, 4), (0, 20), (10, 60), (20, 120)][kind]
        return Profile(currency, terms, method, late, [0.0, 0.001, 0.01, 0.3][kind])
