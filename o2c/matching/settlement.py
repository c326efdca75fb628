"""How a bank line pays invoices: what paying one in full looks like on a day, the allocation oldest first
with the early-payment discount, and the bounded search for a set of invoices adding up to the amount."""

from datetime import date

from o2c.matching.types import Allocation, BankLine, Candidate, Flag, OpenInvoice

MAX_INVOICES_PER_PAYMENT = 5  # as Stripe's own bank-transfer reconciliation: 1 to 5 invoices summing exactly
SUBSET_SEARCH_INVOICES = 40  # open invoices below the amount a multi-invoice search looks at, at most
SUBSET_SEARCH_BUDGET = 50_000  # partial sums per half before the search gives up (abstains); 20 invoices: 21,700
SHORT_PAYMENT_SHARE = 0.05  # paid at least 95% of the invoice: a deduction to look at, not an instalment
_INEXACT = frozenset({Flag.PARTIAL, Flag.SHORT, Flag.OVERPAID})


def is_exact(candidate: Candidate) -> bool:
    return not any(flag in _INEXACT for flag in candidate.flags)


def expected(invoice: OpenInvoice, on: date) -> tuple[int, ...]:
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


def settle(
    line: BankLine, named: list[OpenInvoice], *, tier: int, rule: str, exact: float, inexact: float
) -> tuple[Candidate | None, str]:
    """The line pays the invoices it names: exactly, in part, or with money left over."""
    numbers = [invoice.number for invoice in named]
    invoices = [invoice for invoice in named if invoice.currency == line.currency]
    if not invoices:
        return None, f"{', '.join(numbers)} named, but in another currency"
    open_ones = [i for i in invoices if i.open_minor > 0]
    if not open_ones:
        candidate = Candidate([], 0.5, rule, tier, invoices[0].customer_id, [Flag.ALREADY_PAID])
        return candidate, f"{', '.join(numbers)} already paid: a duplicate payment? held as credit"
    candidate = allocate(line, open_ones, tier=tier, rule=rule, confidence=exact)
    if not is_exact(candidate):
        candidate.confidence = inexact
        if len(open_ones) > 1 and Flag.PARTIAL in candidate.flags:
            candidate.confidence = 0.7  # which of several invoices a part payment is for is a person's call
    return candidate, ""


def allocate(line: BankLine, invoices: list[OpenInvoice], *, tier: int, rule: str, confidence: float) -> Candidate:
    """Oldest first (the order given); the discount only where the rest of the money covers it."""
    remaining = line.amount_minor
    allocations: list[Allocation] = []
    flags: list[Flag] = []
    for invoice in invoices:
        in_full = expected(invoice, line.booked_on)
        discount = 0
        if len(in_full) == 2 and in_full[1] <= remaining < in_full[0]:
            discount = invoice.discount_minor
        applied = min(remaining, invoice.open_minor - discount)
        if applied <= 0:
            break
        if discount:
            flags.append(Flag.DISCOUNT)
        allocations.append(Allocation(invoice.number, applied, discount, invoice.order_id))
        remaining -= applied
        if applied + discount < invoice.open_minor:
            short = invoice.open_minor - applied - discount
            flags.append(Flag.SHORT if short <= invoice.open_minor * SHORT_PAYMENT_SHARE else Flag.PARTIAL)
    if remaining > 0:
        flags.append(Flag.OVERPAID)
    return Candidate(allocations, confidence, rule, tier, invoices[0].customer_id, flags, remaining)


def subsets(line: BankLine, invoices: list[OpenInvoice]) -> list[list[str]] | None:
    """Up to two sets of 2 to 5 of the customer's open invoices below the amount adding up exactly to it (two
    are enough to know it is a tie); None when there are more than it searches or the search would exceed its
    budget, for then nobody can say which set was meant. Meet in the middle: the sums of each half's small
    sets, then one look-up per sum, so 40 invoices cost what 20 do."""
    target = line.amount_minor
    pool = [invoice for invoice in invoices if 0 < invoice.open_minor < target]
    if len(pool) > SUBSET_SEARCH_INVOICES:
        return None  # the set may lie among those not searched: one found would not be the only one
    if len(pool) < 2 or sum(invoice.open_minor for invoice in pool) < target:
        return []
    pool.sort(key=lambda invoice: invoice.open_minor)
    amounts = [invoice.open_minor for invoice in pool]
    left = _sums(amounts, range(0, len(pool), 2), target)
    right = _sums(amounts, range(1, len(pool), 2), target)
    if left is None or right is None:
        return None
    found: list[list[str]] = []
    for total, chosen in left.items():
        for mine in chosen:
            for theirs in right.get(target - total, ()):
                if 2 <= len(mine) + len(theirs) <= MAX_INVOICES_PER_PAYMENT:
                    found.append([pool[k].number for k in sorted((*mine, *theirs))])
                    if len(found) > 1:
                        return found
    return found


def _sums(amounts: list[int], half: range, target: int) -> dict[int, list[tuple[int, ...]]] | None:
    """Every set of up to MAX_INVOICES_PER_PAYMENT of the half's positions in ``amounts`` (ascending) adding
    up to at most the target, by its sum, the empty set included; None past the budget."""
    sums: dict[int, list[tuple[int, ...]]] = {0: [()]}
    stack: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())]
    tried = 0
    while stack:
        start, total, chosen = stack.pop()
        for j in range(start, len(half)):
            reached = total + amounts[half[j]]
            if reached > target:
                break  # ascending: every later invoice overshoots too
            tried += 1
            if tried > SUBSET_SEARCH_BUDGET:
                return None
            picked = (*chosen, half[j])
            sums.setdefault(reached, []).append(picked)
            if len(picked) < MAX_INVOICES_PER_PAYMENT:
                stack.append((j + 1, reached, picked))
    return sums
