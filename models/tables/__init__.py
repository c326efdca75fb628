"""The book of record, one module per stage. Only activities import it (workflow code never touches the database).

Importing this package registers every table on ``SQLModel.metadata`` (migrations rely on it). Money columns
are integer minor units (BIGINT). Unique constraints carry the exactly-once guarantees: a retried activity
runs into them instead of writing twice.
"""

from models.tables.access import ApprovalLimit, ApprovalRequest, ConsoleUser
from models.tables.cash_application import BankStatement, CashApplication, CashReceipt, CustomerBankAccount
from models.tables.collections import CollectionTask, ContactNote, Dispute, DunningEvent
from models.tables.credit import CreditDecision
from models.tables.customers import Customer, CustomerChange
from models.tables.fulfillment import Shipment, ShipmentLine
from models.tables.invoicing import ArchivedDocument, BalanceAdjustment, CreditNote, Invoice, InvoiceLine, NumberSeries
from models.tables.ledger import LedgerEntry
from models.tables.orders import Order, OrderLine
from models.tables.outbox import AuditEntry, EmailOutbox, WebhookEvent
from models.tables.payments import CardCharge, Chargeback, Payment, PaymentApplication, Refund
from models.tables.portal import PortalSignInLink

__all__ = [
    "ApprovalLimit",
    "ApprovalRequest",
    "ArchivedDocument",
    "AuditEntry",
    "BalanceAdjustment",
    "BankStatement",
    "CardCharge",
    "CashApplication",
    "CashReceipt",
    "Chargeback",
    "CollectionTask",
    "ConsoleUser",
    "ContactNote",
    "CreditDecision",
    "CreditNote",
    "Customer",
    "CustomerBankAccount",
    "CustomerChange",
    "Dispute",
    "DunningEvent",
    "EmailOutbox",
    "Invoice",
    "InvoiceLine",
    "LedgerEntry",
    "NumberSeries",
    "Order",
    "OrderLine",
    "Payment",
    "PaymentApplication",
    "PortalSignInLink",
    "Refund",
    "Shipment",
    "ShipmentLine",
    "WebhookEvent",
]
