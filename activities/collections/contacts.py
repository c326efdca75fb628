"""A collector's contacts with a customer: calls, emails and meetings with their outcome and a follow-up
date, and the notes kept beside the workflows' own decisions (a promise to pay, an escalation). Each note is
written once per note id, with its entry in the audit trail."""

from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import select

from activities.records import audit
from models.tables import ContactNote, Customer, Order
from o2c.platform.db import insert_new, transaction

CONTACT_KINDS = ("call", "email", "meeting")  # what a collector records on its own
NOTE_KINDS = (*CONTACT_KINDS, "promise", "escalation")  # and the notes beside a workflow's decision


class ContactError(ValueError):
    """A note that cannot be recorded, with what to do instead."""


def record_contact(
    engine: Engine,
    note_id: str,
    customer_id: str,
    kind: str,
    note: str,
    actor: str,
    outcome: str = "",
    order_id: str | None = None,
    follow_up_on: date | None = None,
) -> ContactNote:
    """Records the note, or answers the one recorded before under ``note_id`` (a resend writes nothing)."""
    note, outcome, actor = note.strip(), outcome.strip(), actor.strip()
    _check(note_id, kind, note, actor, outcome)
    with transaction(engine) as session:
        if session.get(Customer, customer_id) is None:
            raise ContactError(f"no customer {customer_id} in the master")
        if order_id is not None:
            order = session.get(Order, order_id)
            if order is None or order.customer_id != customer_id:
                raise ContactError(f"order {order_id} is not an order of customer {customer_id}")
        row = {
            "note_id": note_id,
            "customer_id": customer_id,
            "order_id": order_id,
            "kind": kind,
            "outcome": outcome,
            "note": note,
            "follow_up_on": follow_up_on,
            "actor": actor,
            "created_at": datetime.now(UTC),
        }
        if insert_new(session, ContactNote, [row], ["note_id"]):
            follow_up = f"; follow up on {follow_up_on.isoformat()}" if follow_up_on else ""
            said = f" ({outcome})" if outcome else ""
            audit(
                session,
                f"contact:{note_id}",
                order_id,
                f"contact_{kind}",
                actor,
                f"{kind} with customer {customer_id}{said}: {note}{follow_up}",
            )
        recorded = session.exec(select(ContactNote).where(ContactNote.note_id == note_id)).one()
    return recorded


def _check(note_id: str, kind: str, note: str, actor: str, outcome: str) -> None:
    if kind not in NOTE_KINDS:
        raise ContactError(f"kind {kind!r}: one of {', '.join(NOTE_KINDS)}")
    if not note_id:
        raise ContactError("a note needs an id (a repeat with the same id writes nothing)")
    if not note:
        raise ContactError("say what was said: the note is empty")
    if not actor:
        raise ContactError("who made the contact? (--by)")
    for name, value, limit in (("note", note, 2000), ("outcome", outcome, 60), ("by", actor, 120), ("id", note_id, 64)):
        if len(value) > limit:
            raise ContactError(f"the {name} is longer than {limit} characters")
        if "\x00" in value:
            raise ContactError(f"the {name} holds a NUL character (\\x00), which cannot be stored")
