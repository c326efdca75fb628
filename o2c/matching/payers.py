"""Who paid a bank line: customers by bank account, exact normalized name, or a fuzzy name among those sharing
a word with the payer's (only with a clear lead)."""

from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import fuzz

from o2c.matching.names import FUZZY_ACCEPT, FUZZY_MARGIN, distinctive, name_score, normalize_account, normalize_name
from o2c.matching.types import BankLine, Customer


class Payers:
    """The customers a Matcher knows, indexed to identify payers; each line's payer is worked out once."""

    def __init__(self, customers: Iterable[Customer]) -> None:
        self._customers: dict[str, Customer] = {}
        self._identified: tuple[BankLine, tuple[set[str], str, float]] | None = None
        self._by_account: dict[str, set[str]] = defaultdict(set)
        self._by_name: dict[str, set[str]] = defaultdict(set)
        self._by_token: dict[str, set[str]] = defaultdict(set)
        self._normalized: dict[str, str] = {}
        for customer in customers:
            self.add(customer)

    def add(self, customer: Customer) -> None:
        self._customers[customer.id] = customer
        self._identified = None
        for account in customer.accounts:
            self._by_account[normalize_account(account)].add(customer.id)
        name = normalize_name(customer.name)
        if any(distinctive(word) for word in name.split()):  # "Trading Company Ltd" is anybody's name
            self._by_name[name].add(customer.id)
            for token in name.split():
                self._by_token[token].add(customer.id)

    def normalize(self, name: str) -> str:
        cached = self._normalized.get(name)
        if cached is None:
            cached = self._normalized[name] = normalize_name(name)
        return cached

    def score(self, payer: str, customer_id: str) -> float:
        """``name_score`` of a normalized payer's name against the customer's."""
        return name_score(payer, self.normalize(self._customers[customer_id].name))

    def identify(self, line: BankLine) -> tuple[set[str], str, float]:
        """Who paid, worked out once per line (the tiers ask in turn; a fuzzy search is not cheap)."""
        if self._identified is None or self._identified[0] is not line:
            self._identified = (line, self._identify(line))
        return self._identified[1]

    def _identify(self, line: BankLine) -> tuple[set[str], str, float]:
        """By account (certain), exact normalized name (nearly), or a fuzzy name among the customers sharing
        a word with the payer's name (only with a clear lead)."""
        if line.payer_account:
            by_account = self._by_account.get(normalize_account(line.payer_account))
            if by_account:
                return by_account, "bank account", 1.0
        if not line.payer_name:
            return set(), "", 0.0
        payer = self.normalize(line.payer_name)
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
        ranked = sorted(((self.score(payer, c), c) for c in pool), reverse=True)
        best, best_id = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        if best >= FUZZY_ACCEPT and best - runner_up >= FUZZY_MARGIN:
            return {best_id}, f"fuzzy name ({best:.0f})", 0.97 + (best - 100) / 300
        return set(), "", 0.0

    def agreement(self, line: BankLine, customer_id: str, payer: set[str]) -> int:
        """1: the payer is that customer; -1: the payer is somebody else; 0: nobody can tell."""
        if payer:
            return 1 if customer_id in payer else -1
        if not line.payer_name:
            return 0
        similarity = fuzz.token_set_ratio(
            self.normalize(line.payer_name), self.normalize(self._customers[customer_id].name)
        )
        return 0 if similarity >= 60 else -1
