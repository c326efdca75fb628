"""Recorded histories of every main path replay against today's workflow code.

The v1 baseline (2026-11-25) recorded every history here afresh, with no patch left in the workflows. From
then on a change to a workflow that would break orders in flight fails here; such a change goes behind
``workflow.patched`` (README, "Changing the workflow"). Record with ``O2C_RECORD_HISTORIES=1`` only to add
a path, never to make this test pass.
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
    "cancellation",
    "cancellation_told",
    "card_paid",
    "card_soft_declines_retried",
    "cash_application_sqlite",
    "chargeback_lost",
    "credit_hold_approved",
    "credit_hold_expired",
    "credit_note_and_charge",
    "credit_recheck_hold_approved",
    "credit_recheck_withdrawn",
    "credit_rejected",
    "customer_master_change",
    "dispute",
    "late_fee_and_block",
    "paid_after_reminders",
    "paid_before_invoice_cancelled",
    "paid_before_invoice_rejected",
    "paid_on_time",
    "partial_shipments",
    "promise_broken",
    "promise_kept",
    "refund_paid_invoice",
    "resend_document",
    "statement",
    "stripe_refund_external",
    "written_off",
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
