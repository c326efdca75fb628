"""``o2c finance contact CUSTOMER --kind call --note … --by WHO``: a collector's note of a contact with a
customer, written once per note id and audited (the console's collections page writes the same)."""

import argparse
import sys
import uuid
from datetime import date
from typing import Any


def _follow_up(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_contact(args: argparse.Namespace) -> int:
    from activities.collections.contacts import ContactError, record_contact
    from o2c.platform.config import get_settings
    from o2c.platform.db import make_engine, migrate

    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    note_id = args.note_id or uuid.uuid4().hex
    try:
        note = record_contact(
            engine,
            note_id,
            args.customer_id,
            args.kind,
            args.note,
            args.by,
            outcome=args.outcome or "",
            order_id=args.order,
            follow_up_on=args.follow_up,
        )
    except ContactError as exc:
        print(f"o2c finance contact: {exc}", file=sys.stderr)
        return 1
    follow_up = f", follow up on {note.follow_up_on.isoformat()}" if note.follow_up_on else ""
    print(f"{note.kind} with {note.customer_id} noted by {note.actor} ({note.note_id}{follow_up})")
    return 0


def add_contact_command(actions: Any) -> None:
    contact = actions.add_parser("contact", help="note a call, email or meeting with a customer (audited)")
    contact.add_argument("customer_id")
    contact.add_argument("--kind", choices=["call", "email", "meeting"], default="call")
    contact.add_argument("--note", required=True, help="what was said")
    contact.add_argument("--by", required=True, help="who made the contact")
    contact.add_argument("--outcome", help="in a few words, e.g. 'will pay Friday', 'no answer'")
    contact.add_argument("--order", help="the order it was about")
    contact.add_argument("--follow-up", type=_follow_up, help="when to contact them again (YYYY-MM-DD)")
    contact.add_argument("--note-id", help="makes a repeat of this note harmless")
    contact.set_defaults(run=cmd_contact)
