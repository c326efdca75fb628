"""Collections: the dunning steps (reminders, escalation to a person, a credit block), late fees on
invoices of their own, and balance adjustments (write-offs, credit notes on open invoices)."""

from activities.collections.adjustments import AdjustmentActivities
from activities.collections.dunning import DunningActivities
from activities.collections.late_fees import LateFeeActivities

__all__ = ["AdjustmentActivities", "DunningActivities", "LateFeeActivities"]
