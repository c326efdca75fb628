"""Card on file: soft declines retried on the policy's schedule, hard declines stop charging at once.
Declines come as Stripe sends them to a confirmed off-session PaymentIntent: a ``CardError`` carrying
the intent (``FakeStripe``)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import update
from stripe.params import CustomerCreateParams
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.payments import PaymentActivities, decline_kind
from models.activity_io import ChargeCard, ChargeOutcome
from models.contract import OrderStatus, PaymentChannel, PaymentMethod, PaymentReceived, ShipmentDispatched, ShippedLine
from models.tables import CardCharge, Customer, Order
from o2c.client import O2CClient
from o2c.platform.db import transaction
from tests.harness import eventually, keep_history, running_worker
from tests.seed import add_customer, add_invoice, add_order
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


# ------------------------------------------------------------------------- the activity on its own

CHARGE = ChargeCard(order_id="O1", invoice_number="INV-1", amount_minor=49_48, currency="USD", idempotency_key="key-1")


def _charge(db: Database, api: FakeStripe) -> ChargeOutcome:
    result: ChargeOutcome = ActivityEnvironment().run(PaymentActivities(db.engine, api).charge_card, CHARGE)
    return result


@pytest.fixture
def card_order(database: Database) -> Database:
    add_customer(database)
    add_invoice(database, "INV-1", add_order(database, "O1", 49_48), 49_48, due=datetime.now(UTC).date())
    with transaction(database.engine) as session:
        session.execute(
            update(Order).where(Order.id == "O1").values(payment_method="card_on_file", stripe_payment_method="pm_1")  # type: ignore[arg-type]
        )
    return database


@pytest.mark.parametrize(
    ("outcome", "code", "kind"),
    [
        ("stolen_card", "stolen_card", "hard"),
        ("insufficient_funds", "insufficient_funds", "soft"),
        # Stripe's own error codes, with no decline code: the code is the reason.
        ("expired_card", "expired_card", "hard"),
        ("processing_error", "processing_error", "soft"),
    ],
)
def test_a_decline_is_recorded_with_the_intent_stripe_attached_to_the_error(
    card_order: Database, outcome: str, code: str, kind: str
) -> None:
    api = FakeStripe([outcome])
    charged = _charge(card_order, api)
    [intent] = api.intents
    assert (charged.status, charged.decline_code, charged.decline_kind) == ("declined", code, kind)
    assert charged.payment_id == intent["id"]
    with transaction(card_order.engine) as session:
        row = session.get(CardCharge, CHARGE.idempotency_key)
        assert row is not None
        assert (row.status, row.decline_code, row.stripe_payment_intent) == ("declined", code, intent["id"])


def test_a_decline_whose_answer_was_lost_is_not_charged_again(card_order: Database) -> None:
    """The worker died after Stripe declined but before our row had the answer (nor the customer its
    Stripe id): the retry links the customer Stripe already has and gets the same declined intent, where
    a second charge would have gone through."""
    api = FakeStripe(["insufficient_funds", "succeeded"])
    first = _charge(card_order, api)
    with transaction(card_order.engine) as session:
        session.execute(update(CardCharge).values(status="pending", stripe_payment_intent=None, decline_code=None))
        session.execute(update(Customer).values(stripe_customer_id=None))
    again = _charge(card_order, api)
    assert (again.status, again.payment_id, again.decline_code) == ("declined", first.payment_id, "insufficient_funds")
    assert len(api.intents) == 1 and len(api.customers_created) == 1
    assert api.backend.outcomes == ["succeeded"], "Stripe was not asked to charge the card again"


def test_the_fake_keeps_stripes_idempotency_rules() -> None:
    """What the tests above lean on: a key repeated with other parameters is refused, as Stripe does."""
    api = FakeStripe([])
    params: CustomerCreateParams = {"email": "ap@initech.example", "metadata": {"o2c_customer_id": "C1"}}
    first = api.v1.customers.create(params=params, options={"idempotency_key": "k"})
    assert api.v1.customers.create(params=params, options={"idempotency_key": "k"}).id == first.id
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        api.v1.customers.create(params={**params, "name": "Initech"}, options={"idempotency_key": "k"})
    listed = api.v1.customers.list(params={"email": "ap@initech.example"}).auto_paging_iter()
    assert [c.id for c in listed] == [first.id]
