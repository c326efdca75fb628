"""``o2c demo``: sample orders on a running stack, driven through different lives for the UI to show, and
something waiting in every queue of the finance console: a credit hold, unapplied receipts (one with the
engine's suggestion), an open dispute, an overdue customer and a write-off for a manager to approve."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from models.contract import StatusView
from models.money import to_minor
from models.tables import Order
from o2c.client import O2CClient, describe
from o2c.platform.config import Settings

# How long ago the overdue demo customer's invoice fell due: past three reminders, short of the final notice
# (30 days) and of the credit engine's hold for old overdue invoices (O2C_CREDIT_OVERDUE_HOLD_DAYS, 30).
OVERDUE_DAYS = 20


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


async def _bank_statement(client: Client, engine: Engine, lines: list[str]) -> None:
    """A CSV bank statement with these lines, imported and run through cash application as `o2c cash
    import` does: what the engine cannot apply alone waits in the exception queue (``o2c cash unapplied``)."""
    from activities.cash_application import store_statement
    from o2c.cli.cash import start_cash_application
    from o2c.statements import parse_statement

    header = "date,amount,currency,payer_name,payer_account,reference,remittance,bank_reference"
    text = "\n".join([header, *lines]).encode()
    statement, _ = await asyncio.to_thread(store_statement, engine, parse_statement(text), "demo")
    handle = await start_cash_application(client, statement.key, "demo.finance")
    applied = await handle.result()
    print(f"  bank statement {handle.id}: {applied.applied} applied, {applied.unapplied} in the exception queue")


def _paid_and_unknown(invoiced: StatusView) -> list[str]:
    """The ACME order's payment (by its RF reference) and a payment nobody can place."""
    today = datetime.now(UTC).date().isoformat()
    reference = invoiced.invoices[0].payment_reference
    return [
        f"{today},{invoiced.totals.due},USD,ACME CORP,US00DEMO0001,{reference},,DEMO-{reference}",
        f"{today},123.45,USD,J. Doe,US00DEMO9999,,thanks for everything,DEMO-{reference}-2",
    ]


def _part_payment(invoiced: StatusView, run: str) -> list[str]:
    """Part of the UMBRELLA invoice, naming its number, from a payer the bank does not name: the engine
    suggests that invoice but leaves the receipt for a person (the amount differs, the payer is unknown)."""
    today = datetime.now(UTC).date().isoformat()
    number = invoiced.invoices[0].number
    return [f"{today},10000.00,USD,,US00DEMO7777,,part payment {number},DEMO-{run}-PART"]


def _write_off_request(engine: Engine, overdue: StatusView, run: str) -> None:
    """The collector asks to write off part of WAYNE's overdue invoice, above their limit (50.00 USD): it waits
    in the console's approvals queue for a finance manager, as if filed from the order's write-off form."""
    from o2c.access.approvals import request_approval

    invoice = overdue.invoices[0]
    request_approval(
        engine,
        "write_off",
        overdue.order_id,
        "WAYNE",
        to_minor(Decimal("75.00"), "USD"),
        "USD",
        "goodwill: one grapnel arrived bent; the customer keeps it",
        "collector",
        f"demo-{run}-write-off",
        invoice_number=invoice.number,
    )


def _backdate_terms(engine: Engine, order_id: str, days: int) -> None:
    """Development only. A fresh stack runs on the real clock, so nothing it invoices is overdue before
    tomorrow; the collections worklist needs an overdue customer now. The order's terms, recorded when it was
    placed and read when it is invoiced, become net -``days``: its invoice is issued today, due ``days`` ago,
    and the order, its dunning and the database agree on that date from then on."""
    with Session(engine) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise RuntimeError(f"demo order {order_id} was not recorded")
        order.net_days = -days
        session.commit()


async def run_demo(client: Client, settings: Settings) -> list[str]:
    from o2c.platform.db import make_engine

    engine = make_engine(settings.resolved_database_url())
    try:
        return await _run_demo(client, engine)
    finally:
        engine.dispose()


async def _run_demo(client: Client, engine: Engine) -> list[str]:
    o2c = O2CClient(client)
    run = datetime.now(UTC).strftime("%m%d%H%M%S")
    names = ("paid", "card", "partial", "hold", "dispute", "cancel", "waiting", "held", "overdue")
    ids = {name: f"DEMO-{run}-{name}" for name in names}

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
    # Over UMBRELLA's credit limit on its own: it stays on hold for a credit controller (console: Credit holds).
    await o2c.start_order(_order(ids["held"], "UMBRELLA", [("CENTRIFUGE", 1, "12000.00")]))
    await o2c.start_order(_order(ids["overdue"], "WAYNE", [("GRAPNEL", 4, "312.50")]))

    await o2c.ship(ids["paid"], _shipment(f"{ids['paid']}-S1", [("WIDGET", 3), ("BOLT", 100)]))
    paid = await _until(o2c, ids["paid"], lambda v: v.totals.due > 0)
    await _bank_statement(client, engine, _paid_and_unknown(paid))

    await o2c.ship(ids["card"], _shipment(f"{ids['card']}-S1", [("GADGET", 1)]))
    await o2c.ship(ids["partial"], _shipment(f"{ids['partial']}-S1", [("STAPLER", 6)]))
    await o2c.ship(ids["partial"], _shipment(f"{ids['partial']}-S2", [("STAPLER", 4), ("TPS", 5)]))

    await _until(o2c, ids["hold"], lambda v: v.status.value == "CREDIT_HOLD")
    await o2c.approve_credit(ids["hold"], {"by": "demo.controller", "note": "long-standing customer"})
    await o2c.ship(ids["hold"], _shipment(f"{ids['hold']}-S1", [("REACTOR", 1)]))

    # Run again on the same state folder, WAYNE has paid late before: the credit engine holds its new order.
    checked = await _until(o2c, ids["overdue"], lambda v: v.status.value in ("AWAITING_SHIPMENT", "CREDIT_HOLD"))
    if checked.status.value == "CREDIT_HOLD":
        await o2c.approve_credit(ids["overdue"], {"by": "demo.controller", "note": "payment plan agreed"})
        await _until(o2c, ids["overdue"], lambda v: v.status.value == "AWAITING_SHIPMENT")
    await asyncio.to_thread(_backdate_terms, engine, ids["overdue"], OVERDUE_DAYS)
    await o2c.ship(ids["overdue"], _shipment(f"{ids['overdue']}-S1", [("GRAPNEL", 4)]))

    await o2c.ship(ids["dispute"], _shipment(f"{ids['dispute']}-S1", [("SERVER", 2)]))
    await _until(o2c, ids["dispute"], lambda v: v.totals.due > 0)
    await o2c.open_dispute(
        ids["dispute"],
        {"dispute_id": "D1", "amount": "899.00", "by": "demo.finance", "reason": "one server arrived damaged"},
    )

    await _until(o2c, ids["cancel"], lambda v: v.status.value == "AWAITING_SHIPMENT")
    await o2c.cancel_order(ids["cancel"], {"by": "demo.finance", "reason": "customer changed their mind"})

    held_invoice = await _until(o2c, ids["hold"], lambda v: v.totals.due > 0)
    await _bank_statement(client, engine, _part_payment(held_invoice, run))
    # The reminders due in the past go out at once: pre-due, then overdue by 1, 7 and 14 days (level 3).
    overdue = await _until(o2c, ids["overdue"], lambda v: v.status.value == "OVERDUE" and v.dunning_level >= 3)
    await asyncio.to_thread(_write_off_request, engine, overdue, run)

    for order_id in ids.values():
        view = await _until(o2c, order_id, lambda v: v.status.value not in ("PENDING",))
        print("  " + describe(view), flush=True)
    return list(ids.values())


async def demo_main(settings: Settings) -> None:
    from o2c.devtools.demo_console import add_demo_users, console_lines
    from o2c.platform.db import make_engine
    from o2c.platform.temporal import connect

    engine = make_engine(settings.resolved_database_url())
    try:
        users = await asyncio.to_thread(add_demo_users, settings, engine)
    finally:
        engine.dispose()
    await run_demo(await connect(), settings)
    print(console_lines(f"http://127.0.0.1:{settings.console_port}", users), flush=True)
