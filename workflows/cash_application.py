"""Cash application for one imported statement (or a rematch of the exception queue): the engine matches,
then the orders are told. Operations see each run in the Temporal UI under ``cash-statement-…``."""

from temporalio import workflow

from workflows.calls import DELIVER_APPLICATIONS, MATCH_RECEIPTS

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        CashApplied,
        DeliverApplications,
        MatchReceipts,
    )
    from models.naming import CASH_APPLICATION_WORKFLOW


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
        matched = await MATCH_RECEIPTS(request, f"match {what}")
        self._state = (
            f"{matched.receipts} receipts: {matched.applied} applied automatically, {matched.unapplied} to the "
            f"exception queue, {matched.flagged} flagged; telling {len(matched.applications)} orders"
        )
        workflow.set_current_details(self._state)
        tell = DeliverApplications(application_ids=matched.applications)
        delivered = await DELIVER_APPLICATIONS(tell, f"tell {len(matched.applications)} orders")
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
