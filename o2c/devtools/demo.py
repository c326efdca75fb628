"""``o2c demo``: sample orders on a running stack, driven through different lives for the UI to show."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from models.contract import StatusView
from o2c.client import O2CClient, describe
from o2c.platform.config import Settings


def _order(order_id: str, customer: str, lines: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": {"id": customer, "name": f"{customer.title()} Ltd", "email": f"ap@{customer.lower()}.example"},
        "currency": extra.pop("currency", "USD"),
        "lines": [
            {
                "sku": sku,
                "description": f"{sku.title()} (demo)",
                "quantity": qty,
                "unit_price": price,
                "tax_rate_percent": "8.25",
            }
            for sku, qty, price in lines
        ],
        **extra,
    }


def _shipment(shipment_id: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "shipment_id": shipment_id,
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
        "carrier": "DHL",
        "tracking_number": f"JD{shipment_id.replace('-', '')[-10:]}",
    }


async def _until(o2c: O2CClient, order_id: str, check: Callable[[StatusView], bool]) -> StatusView:
    for _ in range(200):
        view = await o2c.status(order_id)
        if check(view):
            return view
        await asyncio.sleep(0.1)
    return view


async def _bank_statement(client: Client, settings: Settings, invoiced: StatusView) -> None:
    """The bank reports the ACME order's payment (by its RF reference) and a payment nobody can place: cash
    application pays the order and leaves the other in the exception queue (``o2c cash unapplied``)."""
    from activities.cash_application import store_statement
    from o2c.cli.cash import start_cash_application
    from o2c.platform.db import make_engine
    from o2c.statements import parse_statement

    today = datetime.now(UTC).date().isoformat()
    reference = invoiced.invoices[0].payment_reference
    rows = [
        "date,amount,currency,payer_name,payer_account,reference,remittance,bank_reference",
        f"{today},{invoiced.totals.due},USD,ACME CORP,US00DEMO0001,{reference},,DEMO-{reference}",
        f"{today},123.45,USD,J. Doe,US00DEMO9999,,thanks for everything,DEMO-{reference}-2",
    ]
    engine = make_engine(settings.resolved_database_url())
    try:
        statement, _ = await asyncio.to_thread(
            store_statement, engine, parse_statement("\n".join(rows).encode()), "demo"
        )
    finally:
        engine.dispose()
    handle = await start_cash_application(client, statement.key, "demo.finance")
    applied = await handle.result()
    print(f"  bank statement {handle.id}: {applied.applied} applied, {applied.unapplied} in the exception queue")


async def run_demo(client: Client, settings: Settings) -> list[str]:
    o2c = O2CClient(client)
    run = datetime.now(UTC).strftime("%m%d%H%M%S")
    ids = {name: f"DEMO-{run}-{name}" for name in ("paid", "card", "partial", "hold", "dispute", "cancel", "waiting")}

    await o2c.start_order(_order(ids["paid"], "ACME", [("WIDGET", 3, "19.99"), ("BOLT", 100, "0.25")]))
    await o2c.start_order(
        _order(
            ids["card"],
            "GLOBEX",
            [("GADGET", 1, "249.00")],
            payment_method="card_on_file",
            stripe_payment_method="pm_card_visa",
        )
    )
    # Finance onboards INITECH in the customer master first: its orders then take these terms.
    await o2c.change_customer(
        {
            "customer_id": "INITECH",
            "by": "demo.controller",
            "reason": "onboarding a new account",
            "change_id": f"onboard-{run}",
            "name": "Initech Ltd",
            "email": "ap@initech.example",
            "currency": "USD",
            "credit_limit": "5000.00",
            "risk_class": "standard",
            "payment_terms": {"net_days": 30, "discount_percent": "2", "discount_days": 10},
            "billing_name": "Initech Accounts Payable",
            "billing_address": "4120 Freidrich Lane, Austin TX 78744",
        }
    )
    await o2c.start_order(
        _order(ids["partial"], "INITECH", [("STAPLER", 10, "12.50"), ("TPS", 5, "3.10")], invoicing="per_shipment")
    )
    await o2c.start_order(_order(ids["hold"], "UMBRELLA", [("REACTOR", 1, "25000.00")]))
    await o2c.start_order(_order(ids["dispute"], "HOOLI", [("SERVER", 2, "899.00")]))
    await o2c.start_order(_order(ids["cancel"], "ACME", [("WIDGET", 1, "19.99")]))
    await o2c.start_order(_order(ids["waiting"], "STARK", [("ARMOR", 1, "5000.00")], currency="EUR"))

    await o2c.ship(ids["paid"], _shipment(f"{ids['paid']}-S1", [("WIDGET", 3), ("BOLT", 100)]))
    paid = await _until(o2c, ids["paid"], lambda v: v.totals.due > 0)
    await _bank_statement(client, settings, paid)

    await o2c.ship(ids["card"], _shipment(f"{ids['card']}-S1", [("GADGET", 1)]))
    await o2c.ship(ids["partial"], _shipment(f"{ids['partial']}-S1", [("STAPLER", 6)]))
    await o2c.ship(ids["partial"], _shipment(f"{ids['partial']}-S2", [("STAPLER", 4), ("TPS", 5)]))

    await _until(o2c, ids["hold"], lambda v: v.status.value == "CREDIT_HOLD")
    await o2c.approve_credit(ids["hold"], {"by": "demo.controller", "note": "long-standing customer"})
    await o2c.ship(ids["hold"], _shipment(f"{ids['hold']}-S1", [("REACTOR", 1)]))

    await o2c.ship(ids["dispute"], _shipment(f"{ids['dispute']}-S1", [("SERVER", 2)]))
    await _until(o2c, ids["dispute"], lambda v: v.totals.due > 0)
    await o2c.open_dispute(
        ids["dispute"],
        {"dispute_id": "D1", "amount": "899.00", "by": "demo.finance", "reason": "one server arrived damaged"},
    )

    await _until(o2c, ids["cancel"], lambda v: v.status.value == "AWAITING_SHIPMENT")
    await o2c.cancel_order(ids["cancel"], {"by": "demo.finance", "reason": "customer changed their mind"})

    for order_id in ids.values():
        view = await _until(o2c, order_id, lambda v: v.status.value not in ("PENDING",))
        print("  " + describe(view), flush=True)
    return list(ids.values())


async def demo_main(settings: Settings) -> None:
    from o2c.platform.temporal import connect

    await run_demo(await connect(), settings)
