"""What finance's decisions have in common, and what an update answers."""

from models.contract.base import Contract, Identifier, Person


class FinanceDecision(Contract):
    """Common to finance's decisions: who decided, and an optional id that makes a resend harmless."""

    by: Person
    request_id: Identifier | None = None


class DecisionResult(Contract):
    """What an update answers at once."""

    accepted: bool
    status: str
    message: str
