"""JSON Schemas of every public payload, generated from the contract models into ``schemas/``."""

import json
from pathlib import Path

from pydantic import BaseModel

from models.contract import (
    AddCharge,
    ApproveCredit,
    CancelOrder,
    ChangeCustomer,
    ChargebackClosed,
    ChargebackOpened,
    ChargebackResult,
    CustomerChanged,
    DecisionResult,
    OpenDispute,
    OrderOutcome,
    PaymentFailed,
    PaymentReceived,
    PlaceOrder,
    PromiseToPay,
    RefundInvoice,
    RefundResult,
    RejectCredit,
    ResendDocument,
    ResolveDispute,
    SendStatement,
    ShipmentDelivered,
    ShipmentDispatched,
    StatusView,
    WriteOff,
)

PUBLISHED: dict[str, type[BaseModel]] = {
    "workflow-input.PlaceOrder": PlaceOrder,
    "workflow-result.OrderOutcome": OrderOutcome,
    "signal.shipment_dispatched": ShipmentDispatched,
    "signal.shipment_delivered": ShipmentDelivered,
    "signal.payment_received": PaymentReceived,
    "signal.payment_failed": PaymentFailed,
    "decision.approve_credit": ApproveCredit,
    "decision.reject_credit": RejectCredit,
    "decision.open_dispute": OpenDispute,
    "decision.resolve_dispute": ResolveDispute,
    "decision.promise_to_pay": PromiseToPay,
    "decision.cancel_order": CancelOrder,
    "decision.write_off": WriteOff,
    "decision.add_charge": AddCharge,
    "workflow-input.ChangeCustomer": ChangeCustomer,
    "workflow-result.CustomerChanged": CustomerChanged,
    "workflow-input.ResendDocument": ResendDocument,
    "workflow-input.SendStatement": SendStatement,
    "workflow-input.RefundPaidInvoice": RefundInvoice,
    "workflow-result.RefundPaidInvoice": RefundResult,
    "workflow-input.Chargeback": ChargebackOpened,
    "signal.Chargeback.dispute_closed": ChargebackClosed,
    "workflow-result.Chargeback": ChargebackResult,
    "update-result.DecisionResult": DecisionResult,
    "query.status": StatusView,
}


def rendered() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(model.model_json_schema(mode="validation"), indent=2, sort_keys=True) + "\n"
        for name, model in PUBLISHED.items()
    }


def write(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink()
    for filename, text in rendered().items():
        (folder / filename).write_text(text)
    return sorted(rendered())


def stale(folder: Path) -> list[str]:
    """Files in ``folder`` that differ from what the models generate (missing and extra ones too)."""
    expected = rendered()
    present = {p.name for p in folder.glob("*.json")}
    differing = [n for n, t in expected.items() if n not in present or (folder / n).read_text() != t]
    return sorted(differing + [n for n in present if n not in expected])
