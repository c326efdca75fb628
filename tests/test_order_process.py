"""OrderToCash's process logic with its activities replaced by fakes of the same name: no database, no
Stripe, no SendGrid, and the time-skipping server turns months of dunning into milliseconds.

What the workflow asks of the world and when is checked here; what the activities do with the database is
checked by the tests that run the real ones (test_workflow_paths.py and the rest)."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.activity_io import (
    AdjustBalance,
    Allocation,
    BalanceChanged,
    CloseOrder,
    CreditAssessment,
    CreditRecheck,
    DunningStepRun,
    EmailSent,
    InvoiceIssued,
    IssueInvoice,
    OrderEvent,
    OrderRecorded,
    RecordOrder,
    RecordShipment,
    SendEmail,
)
from models.contract import OrderStatus, ShipmentDispatched, ShippedLine
from models.naming import workflow_id
from models.policy import OrderPolicy
from tests.harness import eventually
from tests.support import sample_order
from workers.worker import sandbox
from workflows.order import OrderToCash

TOTAL = 4948


class World:
    """What the fakes were asked, with the workflow's (skipped) time of asking."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.emails: list[str] = []
        self.due_date: date | None = None

    def saw(self, name: str) -> None:
        self.calls.append((name, activity.info().current_attempt_scheduled_time))

    def fakes(self) -> list[object]:
        world = self

        @activity.defn(name="record_order")
        async def record_order(request: RecordOrder) -> OrderRecorded:
            world.saw("record_order")
            approve = CreditAssessment(decision="approve", reason="within limit", exposure_minor=0, limit_minor=None)
            return OrderRecorded(order_total_minor=TOTAL, policy=OrderPolicy(), assessment=approve)

        @activity.defn(name="recheck_credit")
        async def recheck_credit(request: CreditRecheck) -> CreditAssessment:
            world.saw("recheck_credit")
            return CreditAssessment(decision="approve", reason="", exposure_minor=0, limit_minor=None, unchanged=True)

        @activity.defn(name="record_order_event")
        async def record_order_event(request: OrderEvent) -> None:
            world.saw(f"event:{request.event}")

        @activity.defn(name="record_shipment")
        async def record_shipment(request: RecordShipment) -> None:
            world.saw("record_shipment")

        @activity.defn(name="issue_invoice")
        async def issue_invoice(request: IssueInvoice) -> InvoiceIssued:
            world.saw("issue_invoice")
            world.due_date = request.issued_on + timedelta(days=30)
            return InvoiceIssued(
                number="INV-2026-000001",
                total_minor=TOTAL,
                issued_on=request.issued_on,
                due_date=world.due_date,
                payment_reference="RF18000001",
                discount_minor=0,
                discount_until=None,
            )

        @activity.defn(name="send_email")
        async def send_email(request: SendEmail) -> EmailSent:
            world.emails.append(request.key)
            return EmailSent(message_id=f"msg-{len(world.emails)}", already_sent=False)

        @activity.defn(name="run_dunning_step")
        async def run_dunning_step(request: DunningStepRun) -> None:
            world.saw(f"dunning:{request.step_name}")

        @activity.defn(name="adjust_balance")
        async def adjust_balance(request: AdjustBalance) -> BalanceChanged:
            world.saw(f"adjust:{request.kind.value}")
            allocation = Allocation(invoice_number="INV-2026-000001", amount_minor=request.amount_minor)
            return BalanceChanged(allocations=[allocation], unapplied_minor=0)

        @activity.defn(name="close_order")
        async def close_order(request: CloseOrder) -> None:
            world.saw(f"close:{request.status.value}")

        return [
            record_order,
            recheck_credit,
            record_order_event,
            record_shipment,
            issue_invoice,
            send_email,
            run_dunning_step,
            adjust_balance,
            close_order,
        ]


async def test_months_of_dunning_then_a_write_off_on_fake_activities(time_env: WorkflowEnvironment) -> None:
    world = World()
    order = sample_order()
    queue = f"o2c-fakes-{uuid.uuid4().hex[:8]}"
    client: Client = time_env.client
    async with Worker(
        client, task_queue=queue, workflows=[OrderToCash], activities=world.fakes(), workflow_runner=sandbox()
    ):
        handle = await client.start_workflow(OrderToCash.run, order, id=workflow_id(order.order_id), task_queue=queue)
        shipment = ShipmentDispatched(
            shipment_id="S1",
            lines=[ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)],
            carrier="UPS",
            tracking_number="1Z",
        )
        await handle.signal("shipment_dispatched", shipment)
        await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
        await time_env.sleep(timedelta(days=80))
        view = await eventually(handle, lambda s: s.dunning_level == 5, "escalated")
        await handle.execute_update("write_off", {"by": "cfo", "reason": "customer insolvent"})
        outcome = await handle.result()
    assert outcome.status == OrderStatus.WRITTEN_OFF and view.totals.due == Decimal("49.48")
    assert world.due_date is not None
    dunning = [(name.removeprefix("dunning:"), at.date()) for name, at in world.calls if name.startswith("dunning:")]
    offsets = {"pre-due": -3, "overdue": 1, "second": 7, "third": 14, "final": 30, "escalation": 45}
    assert dunning == [(step, world.due_date + timedelta(days=days)) for step, days in offsets.items()]
    names = [name for name, _ in world.calls]
    assert names[:3] == ["record_order", "recheck_credit", "issue_invoice"]  # the shipment goes with the invoice
    assert names[-2:] == ["adjust:write_off", "close:WRITTEN_OFF"]
    assert world.emails[0] == f"{order.order_id}:invoice:INV-2026-000001"
