"""Cash application for one imported statement (or a rematch of the exception queue): the engine matches,
then the orders are told. Operations see each run in the Temporal UI under ``cash-statement-…``."""

from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

from workflows.activity_options import RETRY

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from models.activity_io import (
        ActivityName,
        ApplicationsDelivered,
        CashApplied,
        DeliverApplications,
        MatchReceipts,
        ReceiptsMatched,
    )
    from models.naming import CASH_APPLICATION_WORKFLOW

# Matching a large statement is one transaction; it heartbeats, so a lost worker is noticed within a minute.
MATCH_TIMEOUT = timedelta(minutes=30)
HEARTBEAT = timedelta(minutes=1)


T = TypeVar("T")


async def _long_activity(name: ActivityName, arg: BaseModel, result: type[T], summary: str) -> T:
    """Whole statements at a time: a long timeout, with heartbeats so that a lost worker is noticed."""
    return await workflow.execute_activity(
        name.value,
        arg,
        result_type=result,
        start_to_close_timeout=MATCH_TIMEOUT,
        heartbeat_timeout=HEARTBEAT,
        retry_policy=RETRY,
        summary=summary,
    )


@workflow.defn(name=CASH_APPLICATION_WORKFLOW)
class CashApplicationWorkflow:
    def __init__(self) -> None:
        self._state = "matching"

    @workflow.query(name="status")
    def status(self) -> str:
        return self._state

    @workflow.run
    async def run(self, request: MatchReceipts) -> CashApplied:
        what = f"statement {request.statement_key}" if request.statement_key else "the exception queue"
        workflow.set_current_details(f"matching {what}")
        matched = await _long_activity(ActivityName.MATCH_RECEIPTS, request, ReceiptsMatched, f"match {what}")
        self._state = (
            f"{matched.receipts} receipts: {matched.applied} applied automatically, {matched.unapplied} to the "
            f"exception queue, {matched.flagged} flagged; telling {len(matched.applications)} orders"
        )
        workflow.set_current_details(self._state)
        delivered = await _long_activity(
            ActivityName.DELIVER_APPLICATIONS,
            DeliverApplications(application_ids=matched.applications),
            ApplicationsDelivered,
            f"tell {len(matched.applications)} orders",
        )
        self._state = (
            f"{matched.receipts} receipts: {matched.applied} applied automatically ({delivered.delivered} orders "
            f"told, {delivered.refused} refused), {matched.unapplied} to the exception queue, {matched.flagged} flagged"
        )
        workflow.set_current_details(self._state)
        return CashApplied(
            receipts=matched.receipts,
            applied=matched.applied,
            unapplied=matched.unapplied,
            flagged=matched.flagged,
            delivered=delivered.delivered,
            refused=delivered.refused,
        )
