"""The public contract: every payload storefronts, warehouses and finance send, and what they get back.

One module per stage of order-to-cash; import from here. These are plain JSON on the wire (pydantic data
converter): money is a decimal string, dates are ISO 8601. The JSON Schemas in ``schemas/`` are generated
from these classes (``o2c schemas --write``); a test keeps them in step.
"""

from models.contract.base import Amount, Contract, CurrencyCode, DocumentNumber, Identifier, Person, Reason, Text
from models.contract.collections import (
    DisputeOutcome,
    OpenDispute,
    PromiseToPay,
    ResolveDispute,
    SendStatement,
    WriteOff,
)
from models.contract.credit import ApproveCredit, RejectCredit
from models.contract.customers import ChangeCustomer, CustomerChanged, FieldChange, RiskClass
from models.contract.decisions import DecisionResult, FinanceDecision
from models.contract.fulfillment import ShipmentDelivered, ShipmentDispatched, ShippedLine
from models.contract.invoicing import AddCharge, ResendDocument
from models.contract.orders import (
    ON_FILE,
    CancelOrder,
    Customer,
    InvoicingPolicy,
    OrderLine,
    PaymentMethod,
    PaymentTerms,
    PlaceOrder,
)
from models.contract.payments import (
    ChargebackClosed,
    ChargebackOpened,
    ChargebackResult,
    ChargebackStatus,
    PaymentChannel,
    PaymentFailed,
    PaymentReceived,
    RefundInvoice,
    RefundLine,
    RefundResult,
)
from models.contract.status import (
    FINAL_STATUSES,
    CreditDecisionView,
    CreditFiguresView,
    DisputeView,
    InvoiceView,
    OrderOutcome,
    OrderStatus,
    Stage,
    StatusView,
    TimelineEntry,
    Totals,
)

__all__ = [
    "FINAL_STATUSES",
    "ON_FILE",
    "AddCharge",
    "Amount",
    "ApproveCredit",
    "CancelOrder",
    "ChangeCustomer",
    "ChargebackClosed",
    "ChargebackOpened",
    "ChargebackResult",
    "ChargebackStatus",
    "Contract",
    "CreditDecisionView",
    "CreditFiguresView",
    "CurrencyCode",
    "Customer",
    "CustomerChanged",
    "DecisionResult",
    "DisputeOutcome",
    "DisputeView",
    "DocumentNumber",
    "FieldChange",
    "FinanceDecision",
    "Identifier",
    "InvoiceView",
    "InvoicingPolicy",
    "OpenDispute",
    "OrderLine",
    "OrderOutcome",
    "OrderStatus",
    "PaymentChannel",
    "PaymentFailed",
    "PaymentMethod",
    "PaymentReceived",
    "PaymentTerms",
    "Person",
    "PlaceOrder",
    "PromiseToPay",
    "Reason",
    "RefundInvoice",
    "RefundLine",
    "RefundResult",
    "RejectCredit",
    "ResendDocument",
    "ResolveDispute",
    "RiskClass",
    "SendStatement",
    "ShipmentDelivered",
    "ShipmentDispatched",
    "ShippedLine",
    "Stage",
    "StatusView",
    "Text",
    "TimelineEntry",
    "Totals",
    "WriteOff",
]
