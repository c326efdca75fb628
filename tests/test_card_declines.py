"""Card on file: soft declines retried on the policy's schedule, hard declines stop charging at once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.payments import decline_kind
from models.contract import OrderStatus, PaymentChannel, PaymentMethod, PaymentReceived, ShipmentDispatched, ShippedLine
from o2c.client import O2CClient
from tests.harness import eventually, keep_history, running_worker
from tests.support import Database, FakeStripe, sample_order

EVERYTHING = ShipmentDispatched(
    shipment_id="S1",
    lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
    carrier="DHL",
    tracking_number="JD1",
)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("insufficient_funds", "soft"), ("generic_decline", "soft"), ("stolen_card", "hard"), ("expired_card", "hard")],
)
def test_declines_are_classified(code: str, kind: str) -> None:
    assert decline_kind(code) == kind


async def test_soft_declines_are_retried_until_the_card_goes_through(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    stripe = FakeStripe(["insufficient_funds", "insufficient_funds", "succeeded"])
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    async with running_worker(time_env.client, sqlite_db, task_queue, stripe_api=stripe) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, EVERYTHING)
        outcome = await handle.result()  # time skips to the retries on day 1 and day 3
        await keep_history(handle, "card_soft_declines_retried")
    assert outcome.status == OrderStatus.PAID
    assert [i["status"] for i in stripe.intents] == ["requires_payment_method", "requires_payment_method", "succeeded"]
    keys = [i["metadata"]["o2c_idempotency_key"] for i in stripe.intents]
    assert len(set(keys)) == 3  # every attempt its own key, minted once
    declined = [m["content"][0]["value"] for m in mail.sent if m["subject"].startswith("Payment for invoice")]
    assert len(declined) == 2 and "we will try the card again" in declined[0]


async def test_a_hard_decline_stops_charging_and_asks_for_another_way(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    stripe = FakeStripe(["stolen_card"])
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    async with running_worker(time_env.client, sqlite_db, task_queue, stripe_api=stripe) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, EVERYTHING)
        await eventually(handle, lambda s: any(e.event == "card_declined" for e in s.timeline), "declined")
        await time_env.sleep(timedelta(days=10))
        await o2c.payment_received(
            order.order_id,
            PaymentReceived(
                payment_id="WIRE-1",
                amount=Decimal("49.48"),
                currency="USD",
                method=PaymentChannel.BANK_TRANSFER,
                received_at=datetime.now(UTC),
            ),
        )
        outcome = await handle.result()
    assert outcome.status == OrderStatus.PAID
    assert len(stripe.intents) == 1  # never tried again
    declined = [m["content"][0]["value"] for m in mail.sent if m["subject"].startswith("Payment for invoice")]
    assert len(declined) == 1 and "we will not charge this card again" in declined[0]


async def test_retries_run_out_and_the_invoice_goes_on_through_dunning(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    stripe = FakeStripe(["insufficient_funds"] * 4)
    order = sample_order(payment_method=PaymentMethod.CARD_ON_FILE, stripe_payment_method="pm_card_visa")
    async with running_worker(time_env.client, sqlite_db, task_queue, stripe_api=stripe) as mail:
        o2c = O2CClient(time_env.client, task_queue)
        handle = await o2c.start_order(order)
        await o2c.ship(order.order_id, EVERYTHING)
        await time_env.sleep(timedelta(days=33))
        view = await eventually(handle, lambda s: s.dunning_level >= 1, "dunning")
        await o2c.payment_received(
            order.order_id,
            PaymentReceived(
                payment_id="WIRE-1",
                amount=view.totals.due,
                currency="USD",
                method=PaymentChannel.BANK_TRANSFER,
                received_at=datetime.now(UTC),
            ),
        )
        await handle.result()
    assert len(stripe.intents) == 4  # the charge and three retries (days 1, 3, 7)
    declined = [m["content"][0]["value"] for m in mail.sent if m["subject"].startswith("Payment for invoice")]
    assert len(declined) == 4 and "we will not charge this card again" in declined[-1]
