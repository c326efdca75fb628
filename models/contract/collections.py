"""Collections: disputes, promises to pay, write-offs and customer statements."""

from datetime import date
from enum import StrEnum

from pydantic import EmailStr, Field

from models.contract.base import Amount, Contract, Identifier, Person, Reason, Text
from models.contract.decisions import FinanceDecision


class OpenDispute(FinanceDecision):
    dispute_id: Identifier
    amount: Amount
    reason: Reason


class DisputeOutcome(StrEnum):
    CREDIT_NOTE = "credit_note"
    REJECTED = "rejected"
    WRITE_OFF = "write_off"


class ResolveDispute(FinanceDecision):
    dispute_id: Identifier
    outcome: DisputeOutcome
    amount: Amount | None = Field(default=None, description="credited or written off; defaults to the disputed amount")
    note: Text = ""


class PromiseToPay(FinanceDecision):
    promised_date: date
    amount: Amount
    note: Text = ""


class WriteOff(FinanceDecision):
    reason: Reason
    amount: Amount | None = Field(default=None, description="defaults to everything still due")
    approved_by: Person | None = Field(
        default=None,
        description="a finance manager approving a write-off before dunning reached the policy's write-off "
        "level (by default the final notice); someone other than `by`",
    )


class SendStatement(Contract):
    """Input of ``SendStatement``: every open invoice of a customer with its age, by email."""

    customer_id: Identifier
    by: Person
    to: EmailStr | None = Field(default=None, description="defaults to the customer's billing email")
    request_id: Identifier | None = None
