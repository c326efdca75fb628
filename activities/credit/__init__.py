"""Credit management: exposure, risk scores and the credit engine's decisions.

Exposure, per customer and currency, is open receivables (invoiced, unpaid) + approved orders not yet
invoiced (their reservations) + this order. A check holds the customer's row lock while it reads the
exposure and writes the reservation (PostgreSQL: ``SELECT … FOR NO KEY UPDATE``; SQLite: every transaction
starts with ``BEGIN IMMEDIATE``), so two orders of one customer checked at once are decided one after
the other, the second seeing the first's reservation.

Modules: ``risk`` (the customer's payment history and its score), ``exposure`` (the figures and the
per-customer lock), ``engine`` (the rules), ``decisions`` (the activities, each decision on record once)."""

from activities.credit.decisions import CreditActivities
from activities.credit.engine import CreditEngine
from activities.credit.exposure import Exposure, customer_exposure, lock_customer
from activities.credit.risk import PaymentHistory, PaymentHistoryScorer, RiskScorer, load_scorer, payment_history

__all__ = [
    "CreditActivities",
    "CreditEngine",
    "Exposure",
    "PaymentHistory",
    "PaymentHistoryScorer",
    "RiskScorer",
    "customer_exposure",
    "load_scorer",
    "lock_customer",
    "payment_history",
]
