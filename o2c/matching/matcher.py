"""The matching engine's tiers over its indexes of open invoices (the package's docstring tells the tiers)."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date

from o2c.matching.names import FUZZY_ACCEPT, FUZZY_MARGIN
from o2c.matching.payers import Payers
from o2c.matching.references import (
    bare_sequences,
    invoice_number_pattern,
    number_key,
    reference_key,
    structured_references,
    written_in,
)
from o2c.matching.settlement import allocate, expected, is_exact, settle, subsets
from o2c.matching.types import BankLine, Candidate, Customer, Flag, OpenInvoice, Proposal

DEFAULT_THRESHOLD = 0.9
MAX_SHARED_PAYERS = 5  # customers one trading name may stand for before the amount is no evidence


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
        self._payers = Payers(customers)
        self._numbers = invoice_number_pattern(series)

    def _add(self, invoice: OpenInvoice) -> None:
        self._invoices[invoice.number] = invoice
        if invoice.payment_reference:
            self._by_reference[reference_key(invoice.payment_reference)] = invoice.number
        key = number_key(invoice.number)
        if key is not None:
            self._by_number[key].append(invoice.number)
            self._by_number[(None, key[1])].append(invoice.number)
        self._by_customer[invoice.customer_id].append(invoice.number)
        self._by_amount[(invoice.currency, invoice.open_minor)].append(invoice.number)
        if invoice.discount_minor:
            self._by_amount[(invoice.currency, invoice.open_minor - invoice.discount_minor)].append(invoice.number)

    def add_customer(self, customer: Customer) -> None:
        self._payers.add(customer)

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
        best: Candidate | None = None
        reasons: list[str] = []
        for tier in (self._tier_reference, self._tier_invoice_numbers, self._tier_customer):
            candidate, reason = tier(line)
            if reason:
                reasons.append(reason)
            if candidate is not None and (best is None or candidate.confidence > best.confidence):
                best = candidate
            if best is not None and best.confidence >= self.threshold:
                break
            if candidate is not None and (candidate.final or tier == self._tier_reference):
                # The payer named an invoice by its check-digit reference, or named invoices and paid more by
                # what another open invoice is; if that cannot be applied (already paid, an unclear part
                # payment, credit or payment?) a guess by amount would contradict the payer: a person decides.
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

    def _tier_reference(self, line: BankLine) -> tuple[Candidate | None, str]:
        numbers = structured_references(self._by_reference, line.reference, line.remittance)
        if not numbers:
            return None, ""
        candidate, reason = settle(
            line, self._named(numbers), tier=1, rule="structured reference", exact=0.99, inexact=0.95
        )
        if candidate is None or not candidate.allocations:
            return candidate, reason
        return self._complete(line, candidate, reason)

    def _complete(self, line: BankLine, candidate: Candidate, reason: str) -> tuple[Candidate, str]:
        """Money left over after the invoices named is not the customer's credit when it pays, exactly, other
        open invoices of the same customer: one of them, or one set of them. Applied when the text carries
        their numbers in some form too; where it does not, or several fit, a person decides (an overpayment
        that happens to equal an invoice is not told from one that pays it by the amount alone)."""
        if candidate.unapplied_minor <= 0 or candidate.flags != [Flag.OVERPAID]:
            return candidate, reason
        applied = [a.invoice_number for a in candidate.allocations]
        rest = BankLine(line.id, candidate.unapplied_minor, line.currency, line.booked_on)
        others = [n for n in self._open_numbers(candidate.customer_id, line.currency) if n not in applied]
        fits = [[n] for n in others if rest.amount_minor in expected(self._invoices[n], line.booked_on)]
        sets = subsets(rest, self._named(others))
        if not fits and not sets and sets is not None:
            return candidate, reason
        if self._fits_elsewhere(line, candidate.customer_id, applied):
            return candidate, reason  # the whole amount pays other invoices: the number named is likelier a typo
        text = f"{line.reference} {line.remittance}"
        # Either way the payer's text and the amount disagree on what was paid: a person decides, and no later
        # tier guesses from the amount alone.
        candidate.final = True
        if sets is None or len(fits) + len(sets) > 1:
            candidate.confidence = min(candidate.confidence, 0.6)
            return candidate, f"{', '.join(applied)} named; the rest fits several open invoices of the customer"
        extra = (fits or sets)[0]
        if not all(written_in(n, text) for n in extra):
            candidate.confidence = min(candidate.confidence, 0.6)
            return candidate, f"{', '.join(applied)} named; the rest equals {', '.join(extra)}: credit or payment?"
        completed = allocate(
            line,
            self._named(applied + extra),
            tier=candidate.tier,
            rule=f"{candidate.rule}, the rest another invoice",
            confidence=candidate.confidence,
        )
        if not is_exact(completed) or completed.unapplied_minor:
            candidate.final = False
            return candidate, reason
        completed.confidence = 0.95 if candidate.tier == 1 else 0.97
        return completed, reason

    def _tier_invoice_numbers(self, line: BankLine) -> tuple[Candidate | None, str]:
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
        bare = [self._open_with_key(key, line.currency) for key in bare_sequences(text, self._numbers)]
        bare = [found for found in bare if found]
        if not named and not bare:
            return None, ""
        payer = self._payers.identify(line)[0]
        if all(len(found) == 1 for found in named):
            numbers = list(dict.fromkeys(found[0] for found in named))
        else:
            # "inv#123" with several years' 123: keep those of the paying customer, if it is known, else of the
            # customer the numbers that are not ambiguous name
            within = payer or {self._invoices[found[0]].customer_id for found in named if len(found) == 1}
            numbers = []
            for found in named:
                mine = found if len(found) == 1 else [n for n in found if self._invoices[n].customer_id in within]
                if len(mine) != 1:
                    return None, f"invoice number {found[0]} is ambiguous without a known payer"
                numbers.append(mine[0])
            numbers = list(dict.fromkeys(numbers))
        # A bare sequence is read among the open invoices of the customer the prefixed numbers name, else of
        # the payer, else where one open invoice alone has it; a sequence that fits none is not a number.
        within = {self._invoices[n].customer_id for n in numbers} or payer
        for found in bare:
            mine = [n for n in found if not within or self._invoices[n].customer_id in within]
            if len(mine) > 1:
                return None, f"{' or '.join(mine)}: the bare sequence in the text fits several open invoices"
            if mine and mine[0] not in numbers:
                numbers.append(mine[0])
        if not numbers:
            return None, ""
        owners = {self._invoices[n].customer_id for n in numbers}
        if len(owners) > 1:
            return None, "the invoice numbers named belong to different customers"
        owner = next(iter(owners))
        candidate, reason = settle(
            line, self._named(numbers), tier=2, rule="invoice number in text", exact=0.97, inexact=0.93
        )
        if candidate is None or not candidate.allocations:
            return candidate, reason
        candidate, reason = self._complete(line, candidate, reason)
        if not named and not is_exact(candidate):
            candidate.confidence = min(candidate.confidence, 0.6)
            reason = f"{', '.join(numbers)} read from a bare sequence, but the amount differs"
        # A typo in a number can name somebody else's invoice, even one of the same round amount: the number
        # is believed as far as the payer agrees with the invoice's customer.
        agreement = self._payers.agreement(line, owner, payer)
        if agreement < 0:
            candidate.confidence = 0.6
            reason = f"{', '.join(numbers)} named, but the payer looks like another customer"
        elif agreement == 0:
            candidate.confidence = 0.91 if is_exact(candidate) else 0.6
            if not is_exact(candidate):
                reason = f"{', '.join(numbers)} named, the amount differs and the payer is unknown"
        elif not is_exact(candidate) and self._fits_elsewhere(line, owner, numbers):
            # The amount fits other open invoices of the same customer exactly: the number is likelier a
            # typo than the payment a part or an overpayment.
            candidate.confidence = 0.6
            reason = f"{', '.join(numbers)} named, but the amount fits other open invoices of the customer exactly"
        return candidate, reason

    def _fits_elsewhere(self, line: BankLine, customer_id: str, named: list[str]) -> bool:
        others = [n for n in self._open_numbers(customer_id, line.currency) if n not in named]
        if any(line.amount_minor in expected(self._invoices[n], line.booked_on) for n in others):
            return True
        return bool(subsets(line, self._named(others)))

    def _tier_customer(self, line: BankLine) -> tuple[Candidate | None, str]:
        payer, how, certainty = self._payers.identify(line)
        if not payer:
            return self._tier_fuzzy_by_amount(line)
        if len(payer) > 1:
            return self._tier_shared_payer(line, payer, how, certainty)
        customer_id = next(iter(payer))
        open_numbers = self._open_numbers(customer_id, line.currency)
        exact = [n for n in open_numbers if line.amount_minor in expected(self._invoices[n], line.booked_on)]
        if len(exact) == 1:
            others = [n for n in open_numbers if n != exact[0]]
            sets = subsets(line, self._named(others))
            if sets is None:
                return None, f"customer {customer_id}: one invoice fits, but a set of others is not ruled out"
            if sets:
                return None, f"customer {customer_id}: one invoice or a set of others fits the amount (tie)"
            candidate = allocate(
                line, self._named(exact), tier=3, rule=f"customer by {how}, exact amount", confidence=0.0
            )
            candidate.confidence = 0.95 * certainty
            return candidate, ""
        if len(exact) > 1:
            return None, f"customer {customer_id} has {len(exact)} open invoices of this amount (tie)"
        sets = subsets(line, self._named(open_numbers))
        if sets is None:
            return None, f"customer {customer_id}: too many combinations of open invoices to decide"
        if len(sets) == 1:
            candidate = allocate(
                line, self._named(sets[0]), tier=4, rule=f"customer by {how}, several invoices", confidence=0
            )
            candidate.confidence = 0.93 * certainty
            return candidate, ""
        if len(sets) > 1:
            return None, f"customer {customer_id}: {len(sets)} sets of open invoices add up to the amount (tie)"
        return None, f"customer {customer_id} identified by {how}, but no open invoice or set of them fits the amount"

    def _tier_shared_payer(
        self, line: BankLine, payer: set[str], how: str, certainty: float
    ) -> tuple[Candidate | None, str]:
        """A name (or an account) several customers share, "Dynamic Trading Inc" and "Dynamic Trading GmbH":
        applied when the open invoices of exactly one of them explain the amount in exactly one way (an invoice
        of that amount, or one set of them) and the text names no other invoice."""
        shared = f"payer {how} matches {len(payer)} customers"
        if len(payer) > MAX_SHARED_PAYERS:
            return None, shared
        fits: list[tuple[str, list[str]]] = []
        for customer_id in sorted(payer):
            open_numbers = self._open_numbers(customer_id, line.currency)
            fits += [
                (customer_id, [n])
                for n in open_numbers
                if line.amount_minor in expected(self._invoices[n], line.booked_on)
            ]
            sets = subsets(line, self._named(open_numbers))
            if sets is None:
                return None, f"{shared}; too many combinations of {customer_id}'s open invoices to decide"
            fits += [(customer_id, numbers) for numbers in sets]
            if len(fits) > 1:
                return None, f"{shared}; the open invoices of more than one fit the amount (tie)"
        if not fits:
            return None, f"{shared}; no open invoice of theirs, nor a set of them, fits the amount"
        customer_id, numbers = fits[0]
        if self._names_other_invoices(line, numbers):
            return None, f"{shared}; {', '.join(numbers)} fits the amount, but the text names another invoice"
        rule = f"customer by {how} shared by {len(payer)} customers, only {customer_id}'s open invoices fit"
        candidate = allocate(line, self._named(numbers), tier=3 if len(numbers) == 1 else 4, rule=rule, confidence=0)
        candidate.confidence = (0.92 if len(numbers) == 1 else 0.91) * certainty
        return candidate, ""

    def _names_other_invoices(self, line: BankLine, numbers: list[str]) -> bool:
        """The text carries an invoice number (prefixed or a bare sequence, of any invoice, open or not, or of
        none known) or a structured reference that is not one of these."""
        text = f"{line.reference} {line.remittance}"
        if any(n not in numbers for n in structured_references(self._by_reference, line.reference, line.remittance)):
            return True
        upper = text.upper()
        keys = [(int(year) if year else None, int(sequence)) for year, sequence in self._numbers.findall(upper)]
        keys += bare_sequences(upper, self._numbers)
        return any(not set(self._by_number.get(key, ())) & set(numbers) for key in keys)

    def _tier_fuzzy_by_amount(self, line: BankLine) -> tuple[Candidate | None, str]:
        if not line.payer_name:
            return None, "no reference, no known account and no payer name"
        numbers = [
            n
            for n in self._by_amount.get((line.currency, line.amount_minor), ())
            if line.amount_minor in expected(self._invoices[n], line.booked_on)
        ]
        if not numbers:
            return None, "no open invoice of this amount and the payer is unknown"
        payer = self._payers.normalize(line.payer_name)
        scores: dict[str, float] = {}
        for number in numbers:
            owner = self._invoices[number].customer_id
            if owner not in scores:
                scores[owner] = self._payers.score(payer, owner)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best_id, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best < FUZZY_ACCEPT or best - runner_up < FUZZY_MARGIN:
            return None, f"payer name {line.payer_name!r} does not single out one customer with this amount"
        mine = [n for n in numbers if self._invoices[n].customer_id == best_id]
        if len(mine) != 1:
            return None, f"customer {best_id} has {len(mine)} open invoices of this amount (tie)"
        candidate = allocate(line, self._named(mine), tier=5, rule="fuzzy payer name, exact amount", confidence=0)
        candidate.confidence = 0.9 + (best - FUZZY_ACCEPT) / 200
        return candidate, ""

    # ------------------------------------------------------------------------------ helpers

    def _open_with_key(self, key: tuple[int | None, int], currency: str) -> list[str]:
        """The open invoices in that currency whose number has that (year, sequence)."""
        return [
            n
            for n in self._by_number.get(key, ())
            if self._invoices[n].currency == currency and self._invoices[n].open_minor > 0
        ]

    def _open_numbers(self, customer_id: str, currency: str) -> list[str]:
        """The customer's invoices with something open in that currency, oldest first."""
        return [
            n
            for n in self._by_customer.get(customer_id, ())
            if self._invoices[n].open_minor > 0 and self._invoices[n].currency == currency
        ]

    def _named(self, numbers: list[str]) -> list[OpenInvoice]:
        return [self._invoices[n] for n in numbers]
