"""The matching engine: bank lines against open invoices, in tiers, applying only what is unambiguous.

Pure and fast (no database, no Temporal), so it serves the statement import, ``o2c cash match`` over CSV
files and the benchmark alike. Every proposal carries a confidence; it is applied automatically only at or
above the threshold and only when no other candidate ties with it. The rest goes to the exception queue
with the reason and, where there is one, the best suggestion.

Tiers, first that decides wins:
1. a structured creditor reference (ISO 11649 RF) with a valid check, exact;
2. invoice numbers found in the remittance text, tolerant of formatting ("INV 2026-123", "inv#123");
3. the customer, by bank account or exact name, plus one open invoice of exactly that amount;
4. one payment covering several open invoices of that customer (bounded search over integer cents);
5. fuzzy payer names (rapidfuzz) within the candidates the amount leaves.

A payer's name identifies a customer only with evidence (``name_score``): its words must carry the customer's
name, not just one distinctive word of it; "Brien" is not "O'Brien & Sons", nor "Dynamic" "Dynamic Trading".

The engine keeps the open amounts it has applied, so a second line for a paid invoice is not matched again.
"""

import gc
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from rapidfuzz import fuzz

DEFAULT_THRESHOLD = 0.9
MAX_INVOICES_PER_PAYMENT = 5  # as Stripe's own bank-transfer reconciliation: 1 to 5 invoices summing exactly
SUBSET_SEARCH_INVOICES = 24  # the customer's oldest open invoices a multi-invoice search looks at
SUBSET_SEARCH_BUDGET = 50_000  # combinations tried before the search gives up (abstains)
SHORT_PAYMENT_SHARE = 0.05  # paid at least 95% of the invoice: a deduction to look at, not an instalment
FUZZY_ACCEPT = 90  # token_set_ratio on normalized names, as ERPNext's >= 80 but stricter, behind name_score's gate
WORD_TYPO = 85  # fuzz.ratio at which two words of five letters or more are one word misspelt
DISTINCTIVE_LENGTH = 3  # shorter words (initials, a legal form cut off by the bank) tell no firm from another
FUZZY_MARGIN = 8  # the best customer must lead the next by this much, else the names tie


class Flag(StrEnum):
    PARTIAL = "partial"  # less than the invoice: applied, the rest stays due and dunning goes on
    SHORT = "short"  # a little less than the invoice: applied, flagged for a dispute
    OVERPAID = "overpaid"  # more than the invoices: the rest is held as the customer's credit
    DISCOUNT = "discount"  # paid within the early-payment window, net of the discount
    ALREADY_PAID = "already_paid"  # names an invoice with nothing left open: a duplicate payment?


@dataclass(slots=True)
class OpenInvoice:
    number: str
    customer_id: str
    currency: str
    open_minor: int
    total_minor: int
    payment_reference: str = ""
    order_id: str = ""
    due_date: date | None = None
    discount_minor: int = 0
    discount_until: date | None = None


@dataclass(slots=True, frozen=True)
class Customer:
    id: str
    name: str
    accounts: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class BankLine:
    id: str
    amount_minor: int  # credits positive; debits are not customer money and are never matched
    currency: str
    booked_on: date
    payer_name: str = ""
    payer_account: str = ""
    reference: str = ""  # the structured creditor reference field, where the format has one
    remittance: str = ""  # free text


@dataclass(slots=True, frozen=True)
class Allocation:
    invoice_number: str
    amount_minor: int  # cash applied
    discount_minor: int = 0  # early-payment discount taken with it
    order_id: str = ""


@dataclass(slots=True, frozen=True)
class Proposal:
    line_id: str
    tier: int  # 0: nothing found
    rule: str
    confidence: float
    auto: bool
    customer_id: str | None = None
    allocations: tuple[Allocation, ...] = ()
    unapplied_minor: int = 0
    flags: tuple[Flag, ...] = ()
    reason: str = ""

    @property
    def invoice_numbers(self) -> tuple[str, ...]:
        return tuple(a.invoice_number for a in self.allocations)


@dataclass(slots=True)
class _Candidate:
    allocations: list[Allocation]
    confidence: float
    rule: str
    tier: int
    customer_id: str
    flags: list[Flag] = field(default_factory=list)
    unapplied_minor: int = 0


@contextmanager
def bulk() -> Iterator[None]:
    """Around matching in bulk: millions of small acyclic objects, which the cyclic garbage collector would
    only walk over and over (a million lines took 67.5 s with it, 52.6 s without)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------- normalizing

_TRANSLIT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa", "&": " "}
    | dict.fromkeys("'\u2019`\u00b4", "")  # "O'Brien" is one word, as banks that drop the apostrophe write it
)
_LEGAL_FORMS = frozenset(
    [
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "ev",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "co",
        "corp",
        "corporation",
        "company",
        "plc",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "the",
        "and",
        "und",
        "et",
        "cie",
        "group",
    ]
)
# Words that say what kind of business a firm is, not which one: many firms carry them.
_GENERIC_WORDS = frozenset(
    [
        "trading",
        "traders",
        "trade",
        "handel",
        "handels",
        "sons",
        "son",
        "soehne",
        "sohn",
        "brothers",
        "bros",
        "gebrueder",
        "holding",
        "holdings",
        "international",
        "intl",
        "global",
        "services",
        "service",
        "solutions",
        "systems",
        "industries",
        "industry",
        "enterprises",
        "enterprise",
        "partners",
        "associates",
        "consulting",
        "import",
        "export",
        "logistics",
        "technologies",
        "technology",
        "products",
        "manufacturing",
        "management",
        "vertrieb",
        "verwaltung",
        "beteiligungs",
        "werke",
    ]
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_name(name: str) -> str:
    """Lower case, umlauts spelled out, accents and punctuation gone, legal forms dropped: "Müller GmbH &
    Co. KG" and "MUELLER" compare equal, and so do "O'Brien" and "OBRIEN"."""
    text = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = [w for w in _NON_WORD.split(text.replace(".", "")) if w and w not in _LEGAL_FORMS]
    return " ".join(words)


def distinctive(word: str) -> bool:
    """A word of a normalized name that tells one firm from another."""
    return len(word) >= DISTINCTIVE_LENGTH and word not in _GENERIC_WORDS


def _same_word(payer_word: str, customer_word: str, *, last: bool) -> bool:
    if payer_word == customer_word:
        return True
    if last and len(payer_word) >= DISTINCTIVE_LENGTH and customer_word.startswith(payer_word):
        return True  # banks cut names to the length of their field
    return min(len(payer_word), len(customer_word)) >= 5 and fuzz.ratio(payer_word, customer_word) >= WORD_TYPO


def _cut_off_form(word: str) -> bool:
    """A legal form or generic word the bank cut short ("GMB", "TRAD"): no word of a name."""
    return any(form.startswith(word) for form in _LEGAL_FORMS | _GENERIC_WORDS)


def name_score(payer: str, customer: str) -> float:
    """How well a payer's normalized name names the customer's, 0 when it is no evidence at all.

    ``token_set_ratio`` alone scores any subset 100, and a one-word payer is a subset of many names. Evidence
    is the customer's name carried by the payer's: every distinctive word of it (misspelt, or cut off at the
    end, at most), two words or more, and all its generic words unless two distinctive words already agree;
    and no distinctive word of the payer's that the customer's lacks ("Acme Widgets" is not "Acme Trading").
    Exactly equal names are looked up before, not scored."""
    payer_words = payer.split()
    unused = dict(enumerate(payer_words))
    matched = matched_distinctive = 0
    missing_generic = False
    for word in customer.split():
        hit = next((i for i, p in unused.items() if _same_word(p, word, last=i == len(payer_words) - 1)), None)
        if hit is None:
            if distinctive(word):
                return 0.0
            missing_generic = True
            continue
        del unused[hit]
        matched += 1
        matched_distinctive += distinctive(word)
    if matched < 2 or matched_distinctive == 0 or (missing_generic and matched_distinctive < 2):
        return 0.0
    for i, word in unused.items():
        if distinctive(word) and not (i == len(payer_words) - 1 and _cut_off_form(word)):
            return 0.0
    return fuzz.token_set_ratio(payer, customer)


def normalize_account(account: str) -> str:
    return "".join(account.split()).upper()


_RF = re.compile(r"RF\d\d[A-Z0-9]{1,21}")
_SPACES = re.compile(r"\s+")


def structured_references(known: dict[str, str], *texts: str) -> list[str]:
    """The invoices whose RF references the texts carry, spaces between groups allowed ("RF18 5390 0754
    7034"). Every known reference has a valid check, and ISO 7064 catches any single wrong or swapped
    character, so a reference with a typo is simply not found."""
    found: list[str] = []
    for text in texts:
        if "RF" not in text.upper():
            continue
        compact = _SPACES.sub("", text.upper())
        for hit in _RF.finditer(compact):
            candidate = hit.group()
            # The compacted text runs on past the reference: the longest known prefix is the one.
            for end in range(len(candidate), 4, -1):
                number = known.get(candidate[:end])
                if number is not None:
                    if number not in found:
                        found.append(number)
                    break
    return found


def invoice_number_pattern(series: Iterable[str]) -> re.Pattern[str]:
    prefixes = "|".join(sorted({re.escape(s.upper()) for s in series} | {"INVOICE", "INV"}, key=len, reverse=True))
    return re.compile(
        rf"(?<![A-Z0-9])(?:{prefixes})(?:\s*(?:NO|NR|NUM|NUMBER)\b\.?)?[\s#:.\-_/]*"
        r"(?:(20\d\d)[\s\-_/.]*)?(\d{1,9})(?![0-9])"
    )


_DIGITS = re.compile(r"\d+")


def _number_key(number: str) -> tuple[int | None, int] | None:
    """("INV-2026-000123") -> (2026, 123): the year and the sequence, as texts mention them."""
    _series, year, sequence = number.split("-") if number.count("-") == 2 else ("", "", "")
    if len(year) == 4 and year.isdigit() and sequence.isdigit():
        return int(year), int(sequence)
    digits = _DIGITS.findall(number)
    if not digits:
        return None
    if len(digits) >= 2 and len(digits[-2]) == 4:
        return int(digits[-2]), int(digits[-1])
    return None, int(digits[-1])


# ---------------------------------------------------------------------------------------- the engine


class Matcher:
    """The invoices given are its working state: it lowers their ``open_minor`` as it applies lines (no copy
    of a million invoices), so give each Matcher invoices of its own."""

    def __init__(
        self,
        invoices: Iterable[OpenInvoice],
        customers: Iterable[Customer],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        series: Iterable[str] = ("INV",),
    ) -> None:
        self.threshold = threshold
        self._invoices: dict[str, OpenInvoice] = {}
        self._by_reference: dict[str, str] = {}
        self._by_number: dict[tuple[int | None, int], list[str]] = defaultdict(list)
        self._by_customer: dict[str, list[str]] = defaultdict(list)
        self._by_amount: dict[tuple[str, int], list[str]] = defaultdict(list)
        for invoice in invoices:
            self._add(invoice)
        for numbers in self._by_customer.values():
            numbers.sort(key=lambda n: (self._invoices[n].due_date or date.min, n))
        self._customers: dict[str, Customer] = {}
        self._identified: tuple[BankLine, tuple[set[str], str, float]] | None = None
        self._by_account: dict[str, set[str]] = defaultdict(set)
        self._by_name: dict[str, set[str]] = defaultdict(set)
        self._by_token: dict[str, set[str]] = defaultdict(set)
        for customer in customers:
            self.add_customer(customer)
        self._numbers = invoice_number_pattern(series)
        self._normalized: dict[str, str] = {}

    def _add(self, invoice: OpenInvoice) -> None:
        self._invoices[invoice.number] = invoice
        if invoice.payment_reference:
            self._by_reference[_SPACES.sub("", invoice.payment_reference.upper())] = invoice.number
        key = _number_key(invoice.number)
        if key is not None:
            self._by_number[key].append(invoice.number)
            self._by_number[(None, key[1])].append(invoice.number)
        self._by_customer[invoice.customer_id].append(invoice.number)
        self._by_amount[(invoice.currency, invoice.open_minor)].append(invoice.number)
        if invoice.discount_minor:
            self._by_amount[(invoice.currency, invoice.open_minor - invoice.discount_minor)].append(invoice.number)

    def add_customer(self, customer: Customer) -> None:
        self._customers[customer.id] = customer
        self._identified = None
        for account in customer.accounts:
            self._by_account[normalize_account(account)].add(customer.id)
        name = normalize_name(customer.name)
        if any(distinctive(word) for word in name.split()):  # "Trading Company Ltd" is anybody's name
            self._by_name[name].add(customer.id)
            for token in name.split():
                self._by_token[token].add(customer.id)

    def open_minor(self, number: str) -> int:
        return self._invoices[number].open_minor

    # ------------------------------------------------------------------------------ per line

    def match_all(self, lines: Iterable[BankLine]) -> Iterator[Proposal]:
        for line in lines:
            yield self.match(line)

    def match(self, line: BankLine) -> Proposal:
        """The best proposal for the line; an automatic one has already reduced the open amounts."""
        if line.amount_minor <= 0:
            return Proposal(line.id, 0, "debit", 0.0, False, reason="not a customer payment (a debit)")
        best: _Candidate | None = None
        reasons: list[str] = []
        for tier in (self._tier_reference, self._tier_invoice_numbers, self._tier_customer):
            candidate, reason = tier(line)
            if reason:
                reasons.append(reason)
            if candidate is not None and (best is None or candidate.confidence > best.confidence):
                best = candidate
            if best is not None and best.confidence >= self.threshold:
                break
            if tier == self._tier_reference and candidate is not None:
                # The payer named an invoice by its check-digit reference; if that cannot be applied (already
                # paid, an unclear part payment) a guess by amount would contradict the payer: a person decides.
                break
        if best is None:
            return Proposal(line.id, 0, "none", 0.0, False, reason="; ".join(reasons) or "no candidate")
        auto = best.confidence >= self.threshold
        if auto:
            for allocation in best.allocations:
                self._invoices[allocation.invoice_number].open_minor -= (
                    allocation.amount_minor + allocation.discount_minor
                )
        return Proposal(
            line.id,
            best.tier,
            best.rule,
            round(best.confidence, 3),
            auto,
            best.customer_id,
            tuple(best.allocations),
            best.unapplied_minor,
            tuple(best.flags),
            "; ".join(reasons) if not auto else "",
        )

    # ------------------------------------------------------------------------------ tiers

    def _tier_reference(self, line: BankLine) -> tuple[_Candidate | None, str]:
        numbers = structured_references(self._by_reference, line.reference, line.remittance)
        if not numbers:
            return None, ""
        return self._settle(line, numbers, tier=1, rule="structured reference", exact=0.99, inexact=0.95)

    def _tier_invoice_numbers(self, line: BankLine) -> tuple[_Candidate | None, str]:
        text = f"{line.reference} {line.remittance}".upper()
        named: list[list[str]] = []
        for year, sequence in self._numbers.findall(text):
            key = (int(year) if year else None, int(sequence))
            found = [n for n in self._by_number.get(key, ()) if self._invoices[n].currency == line.currency]
            if not found and year:
                # "INV 2026123" read as 2026/123 may be sequence 2026123: try the digits whole
                found = [n for n in self._by_number.get((None, int(year + sequence)), ())]
            if found:
                named.append(found)
        if not named:
            return None, ""
        payer = self._identify(line)[0]
        if all(len(found) == 1 for found in named):
            numbers = list(dict.fromkeys(found[0] for found in named))
        else:
            # "inv#123" with several years' 123: keep those of the paying customer, if it is known
            numbers = []
            for found in named:
                mine = [n for n in found if self._invoices[n].customer_id in payer]
                if len(mine) != 1:
                    return None, f"invoice number {found[0]} is ambiguous without a known payer"
                numbers.append(mine[0])
            numbers = list(dict.fromkeys(numbers))
        owners = {self._invoices[n].customer_id for n in numbers}
        if len(owners) > 1:
            return None, "the invoice numbers named belong to different customers"
        owner = next(iter(owners))
        candidate, reason = self._settle(line, numbers, tier=2, rule="invoice number in text", exact=0.97, inexact=0.93)
        if candidate is None or not candidate.allocations:
            return candidate, reason
        # A typo in a number can name somebody else's invoice, even one of the same round amount: the number
        # is believed as far as the payer agrees with the invoice's customer.
        agreement = self._agreement(line, owner, payer)
        if agreement < 0:
            candidate.confidence = 0.6
            reason = f"{', '.join(numbers)} named, but the payer looks like another customer"
        elif agreement == 0:
            candidate.confidence = 0.91 if _exact(candidate) else 0.6
            if not _exact(candidate):
                reason = f"{', '.join(numbers)} named, the amount differs and the payer is unknown"
        elif not _exact(candidate) and self._fits_elsewhere(line, owner, numbers):
            # The amount fits other open invoices of the same customer exactly: the number is likelier a
            # typo than the payment a part or an overpayment.
            candidate.confidence = 0.6
            reason = f"{', '.join(numbers)} named, but the amount fits other open invoices of the customer exactly"
        return candidate, reason

    def _fits_elsewhere(self, line: BankLine, customer_id: str, named: list[str]) -> bool:
        others = [n for n in self._open_numbers(customer_id, line.currency) if n not in named]
        if any(line.amount_minor in self._expected(self._invoices[n], line.booked_on) for n in others):
            return True
        return bool(self._subsets(line, others))

    def _agreement(self, line: BankLine, customer_id: str, payer: set[str]) -> int:
        """1: the payer is that customer; -1: the payer is somebody else; 0: nobody can tell."""
        if payer:
            return 1 if customer_id in payer else -1
        if not line.payer_name:
            return 0
        similarity = fuzz.token_set_ratio(
            self._normalize(line.payer_name), self._normalize(self._customers[customer_id].name)
        )
        return 0 if similarity >= 60 else -1

    def _tier_customer(self, line: BankLine) -> tuple[_Candidate | None, str]:
        payer, how, certainty = self._identify(line)
        if not payer:
            return self._tier_fuzzy_by_amount(line)
        if len(payer) > 1:
            return None, f"payer {how} matches {len(payer)} customers"
        customer_id = next(iter(payer))
        open_numbers = self._open_numbers(customer_id, line.currency)
        exact = [n for n in open_numbers if line.amount_minor in self._expected(self._invoices[n], line.booked_on)]
        if len(exact) == 1:
            others = [n for n in open_numbers if n != exact[0]]
            if self._subsets(line, others):
                return None, f"customer {customer_id}: one invoice or a set of others fits the amount (tie)"
            candidate = self._allocate(line, exact, tier=3, rule=f"customer by {how}, exact amount", confidence=0.0)
            candidate.confidence = 0.95 * certainty
            return candidate, ""
        if len(exact) > 1:
            return None, f"customer {customer_id} has {len(exact)} open invoices of this amount (tie)"
        subsets = self._subsets(line, open_numbers)
        if subsets is None:
            return None, f"customer {customer_id}: too many combinations of open invoices to decide"
        if len(subsets) == 1:
            candidate = self._allocate(
                line, subsets[0], tier=4, rule=f"customer by {how}, several invoices", confidence=0
            )
            candidate.confidence = 0.93 * certainty
            return candidate, ""
        if len(subsets) > 1:
            return None, f"customer {customer_id}: {len(subsets)} sets of open invoices add up to the amount (tie)"
        return None, f"customer {customer_id} identified by {how}, but no open invoice or set of them fits the amount"

    def _tier_fuzzy_by_amount(self, line: BankLine) -> tuple[_Candidate | None, str]:
        if not line.payer_name:
            return None, "no reference, no known account and no payer name"
        numbers = [
            n
            for n in self._by_amount.get((line.currency, line.amount_minor), ())
            if line.amount_minor in self._expected(self._invoices[n], line.booked_on)
        ]
        if not numbers:
            return None, "no open invoice of this amount and the payer is unknown"
        payer = self._normalize(line.payer_name)
        scores: dict[str, float] = {}
        for number in numbers:
            owner = self._invoices[number].customer_id
            if owner not in scores:
                scores[owner] = name_score(payer, self._normalize(self._customers[owner].name))
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best_id, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best < FUZZY_ACCEPT or best - runner_up < FUZZY_MARGIN:
            return None, f"payer name {line.payer_name!r} does not single out one customer with this amount"
        mine = [n for n in numbers if self._invoices[n].customer_id == best_id]
        if len(mine) != 1:
            return None, f"customer {best_id} has {len(mine)} open invoices of this amount (tie)"
        candidate = self._allocate(line, mine, tier=5, rule="fuzzy payer name, exact amount", confidence=0)
        candidate.confidence = 0.9 + (best - FUZZY_ACCEPT) / 200
        return candidate, ""

    # ------------------------------------------------------------------------------ helpers

    def _normalize(self, name: str) -> str:
        cached = self._normalized.get(name)
        if cached is None:
            cached = self._normalized[name] = normalize_name(name)
        return cached

    def _open_numbers(self, customer_id: str, currency: str) -> list[str]:
        """The customer's invoices with something open in that currency, oldest first."""
        return [
            n
            for n in self._by_customer.get(customer_id, ())
            if self._invoices[n].open_minor > 0 and self._invoices[n].currency == currency
        ]

    def _identify(self, line: BankLine) -> tuple[set[str], str, float]:
        """Who paid, worked out once per line (the tiers ask in turn; a fuzzy search is not cheap)."""
        if self._identified is None or self._identified[0] is not line:
            self._identified = (line, self._identify_payer(line))
        return self._identified[1]

    def _identify_payer(self, line: BankLine) -> tuple[set[str], str, float]:
        """By account (certain), exact normalized name (nearly), or a fuzzy name among the customers sharing
        a word with the payer's name (only with a clear lead)."""
        if line.payer_account:
            by_account = self._by_account.get(normalize_account(line.payer_account))
            if by_account:
                return by_account, "bank account", 1.0
        if not line.payer_name:
            return set(), "", 0.0
        payer = self._normalize(line.payer_name)
        by_name = self._by_name.get(payer)
        if by_name:
            return by_name, "name", 0.99
        pool: set[str] = set()
        for token in payer.split():
            sharing = self._by_token.get(token, ())
            if len(sharing) <= 50:
                pool.update(sharing)
        if not pool:
            return set(), "", 0.0
        ranked = sorted(((name_score(payer, self._normalize(self._customers[c].name)), c) for c in pool), reverse=True)
        best, best_id = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        if best >= FUZZY_ACCEPT and best - runner_up >= FUZZY_MARGIN:
            return {best_id}, f"fuzzy name ({best:.0f})", 0.97 + (best - 100) / 300
        return set(), "", 0.0

    @staticmethod
    def _expected(invoice: OpenInvoice, on: date) -> tuple[int, ...]:
        """What paying this invoice in full looks like on that day: the open amount, or less the early-payment
        discount while its window is open and nothing has been paid yet."""
        if (
            invoice.discount_minor
            and invoice.discount_until is not None
            and on <= invoice.discount_until
            and invoice.open_minor == invoice.total_minor
        ):
            return invoice.open_minor, invoice.open_minor - invoice.discount_minor
        return (invoice.open_minor,)

    def _settle(
        self, line: BankLine, numbers: list[str], *, tier: int, rule: str, exact: float, inexact: float
    ) -> tuple[_Candidate | None, str]:
        """The line pays the invoices it names: exactly, in part, or with money left over."""
        invoices = [self._invoices[n] for n in numbers if self._invoices[n].currency == line.currency]
        if not invoices:
            return None, f"{', '.join(numbers)} named, but in another currency"
        open_ones = [i for i in invoices if i.open_minor > 0]
        if not open_ones:
            candidate = _Candidate([], 0.5, rule, tier, invoices[0].customer_id, [Flag.ALREADY_PAID])
            return candidate, f"{', '.join(numbers)} already paid: a duplicate payment? held as credit"
        candidate = self._allocate(line, [i.number for i in open_ones], tier=tier, rule=rule, confidence=exact)
        if not _exact(candidate):
            candidate.confidence = inexact
            if len(open_ones) > 1 and Flag.PARTIAL in candidate.flags:
                candidate.confidence = 0.7  # which of several invoices a part payment is for is a person's call
        return candidate, ""

    def _allocate(self, line: BankLine, numbers: list[str], *, tier: int, rule: str, confidence: float) -> _Candidate:
        """Oldest first (the order given); the discount only where the rest of the money covers it."""
        remaining = line.amount_minor
        allocations: list[Allocation] = []
        flags: list[Flag] = []
        for number in numbers:
            invoice = self._invoices[number]
            expected = self._expected(invoice, line.booked_on)
            discount = 0
            if len(expected) == 2 and expected[1] <= remaining < expected[0]:
                discount = invoice.discount_minor
            applied = min(remaining, invoice.open_minor - discount)
            if applied <= 0:
                break
            if discount:
                flags.append(Flag.DISCOUNT)
            allocations.append(Allocation(number, applied, discount, invoice.order_id))
            remaining -= applied
            if applied + discount < invoice.open_minor:
                short = invoice.open_minor - applied - discount
                flags.append(Flag.SHORT if short <= invoice.open_minor * SHORT_PAYMENT_SHARE else Flag.PARTIAL)
        if remaining > 0:
            flags.append(Flag.OVERPAID)
        customer_id = self._invoices[numbers[0]].customer_id
        return _Candidate(allocations, confidence, rule, tier, customer_id, flags, remaining)

    def _subsets(self, line: BankLine, numbers: list[str]) -> list[list[str]] | None:
        """Up to two sets of 2 to 5 of the customer's oldest open invoices adding up exactly to the amount
        (two are enough to know it is a tie); None when the search would exceed its budget, for then nobody
        can say which set was meant."""
        pool = sorted(numbers[:SUBSET_SEARCH_INVOICES], key=self.open_minor)
        amounts = [self._invoices[n].open_minor for n in pool]
        target = line.amount_minor
        if len(pool) < 2 or sum(amounts) < target:
            return []
        found: list[list[str]] = []
        chosen: list[int] = []
        tried = 0

        def search(start: int, total: int) -> bool:
            """False once the answer is known (a tie) or the budget is spent."""
            nonlocal tried
            for k in range(start, len(pool)):
                tried += 1
                if tried > SUBSET_SEARCH_BUDGET:
                    return False
                reached = total + amounts[k]
                if reached > target:
                    break  # ascending: every later invoice overshoots too
                chosen.append(k)
                if reached == target and len(chosen) >= 2:
                    found.append([pool[i] for i in chosen])
                    if len(found) > 1:
                        return False
                elif len(chosen) < MAX_INVOICES_PER_PAYMENT and not search(k + 1, reached):
                    return False
                chosen.pop()
            return True

        if not search(0, 0) and len(found) < 2:
            return None
        return found


_INEXACT = frozenset({Flag.PARTIAL, Flag.SHORT, Flag.OVERPAID})


def _exact(candidate: _Candidate) -> bool:
    return not any(flag in _INEXACT for flag in candidate.flags)
