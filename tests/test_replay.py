"""Recorded histories of every main path replay against today's workflow code.

A change to OrderToCash that would break orders in flight fails here; such a change goes behind
``workflow.patched`` (README, "Changing the workflow"). Re-record with ``O2C_RECORD_HISTORIES=1``
only when adding paths, never to make this test pass.
"""

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from models.naming import WORKFLOW_NAME, workflow_id
from tests.harness import sandboxed_replayer

HISTORIES = sorted((Path(__file__).with_name("histories")).glob("*.json"))
EXPECTED = {
    "paid_on_time",
    "paid_after_reminders",
    "credit_hold_approved",
    "credit_rejected",
    "credit_hold_expired",
    "partial_shipments",
    "dispute",
    "cancellation",
    "written_off",
    "credit_recheck_withdrawn",
    "credit_recheck_hold_approved",
    "customer_master_change",
    "cancellation_told",
    "credit_note_and_charge",
    "resend_document",
    "promise_kept",
    "promise_broken",
    "late_fee_and_block",
    "statement",
    "card_soft_declines_retried",
    "refund_paid_invoice",
    "chargeback_lost",
    "stripe_refund_external",
    "paid_on_time_local",
    "card_paid_local",
    "paid_on_time_folded",
    "card_paid_folded",
    "paid_on_time_placed",
    "card_paid_placed",
    "credit_hold_approved_placed",
    "cash_application_sqlite",
}


def test_every_main_path_is_recorded() -> None:
    assert {p.stem for p in HISTORIES} >= EXPECTED


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = sandboxed_replayer()
    text = path.read_text()
    await replayer.replay_workflow(WorkflowHistory.from_json(_recorded_id(text, path.stem), text))


def _recorded_id(history: str, stem: str) -> str:
    """An order replays under the id it ran with (``order-{order_id}``: the workflow refuses any other);
    the other workflows do not care."""
    started = json.loads(history)["events"][0]["workflowExecutionStartedEventAttributes"]
    if started["workflowType"]["name"] != WORKFLOW_NAME:
        return f"replay-{stem}"
    order = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    return workflow_id(order["order_id"])
