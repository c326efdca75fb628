"""Finance's credit decisions on an order held for credit."""

from models.contract.base import Reason, Text
from models.contract.decisions import FinanceDecision


class ApproveCredit(FinanceDecision):
    note: Text = ""


class RejectCredit(FinanceDecision):
    reason: Reason
