"""A collector's contact notes (activities/collections/contacts.py and ``o2c finance contact``): written once
per note id with one audit entry, whatever is resent; refused with the reason when they cannot be stored; on
SQLite and PostgreSQL."""

import argparse
from datetime import date

import pytest
from sqlmodel import Session, select

from activities.collections.contacts import ContactError, record_contact
from models.tables import AuditEntry, ContactNote
from o2c.cli.contacts import add_contact_command
from o2c.platform.config import Settings
from tests.seed import add_customer, add_order
from tests.support import Database


def _rows(database: Database) -> tuple[list[ContactNote], list[AuditEntry]]:
    with Session(database.engine) as session:
        return (
            list(session.exec(select(ContactNote)).all()),
            list(session.exec(select(AuditEntry).where(AuditEntry.event.startswith("contact_"))).all()),  # type: ignore[attr-defined]
        )


def test_a_note_is_written_once_per_note_id(database: Database) -> None:
    add_customer(database)
    add_order(database, "O-1", 100_00)
    first = record_contact(
        database.engine,
        "n-1",
        "C1",
        "call",
        " rang, will pay Friday ",
        "collector",
        "promised",
        "O-1",
        date(2030, 1, 3),
    )
    again = record_contact(database.engine, "n-1", "C1", "email", "something else entirely", "someone-else")
    assert again.id == first.id and (again.kind, again.note, again.actor) == (
        "call",
        "rang, will pay Friday",
        "collector",
    )
    notes, audit = _rows(database)
    assert [(n.note_id, n.order_id, n.follow_up_on, n.outcome) for n in notes] == [
        ("n-1", "O-1", date(2030, 1, 3), "promised")
    ]
    assert [(a.dedupe_key, a.event, a.actor, a.order_id) for a in audit] == [
        ("contact:n-1", "contact_call", "collector", "O-1")
    ]
    assert "customer C1 (promised): rang, will pay Friday; follow up on 2030-01-03" in audit[0].detail
    record_contact(database.engine, "n-2", "C1", "meeting", "met their CFO", "collector")
    assert len(_rows(database)[0]) == 2


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"kind": "fax"}, "kind 'fax'"),
        ({"note": "   "}, "the note is empty"),
        ({"customer_id": "NOBODY"}, "no customer NOBODY"),
        ({"order_id": "O-OTHER"}, "not an order of customer C1"),
        ({"note": "x" * 2001}, "longer than 2000"),
        ({"outcome": "bad\x00byte"}, "NUL"),
        ({"actor": ""}, "who made the contact"),
        ({"note_id": ""}, "needs an id"),
    ],
)
def test_a_note_that_cannot_be_stored_is_refused_with_the_reason(
    sqlite_db: Database, change: dict[str, str], refusal: str
) -> None:
    add_customer(sqlite_db)
    fields = {"note_id": "n-1", "customer_id": "C1", "kind": "call", "note": "rang", "actor": "collector"} | change
    with pytest.raises(ContactError, match=refusal):
        record_contact(sqlite_db.engine, **fields)  # type: ignore[arg-type]
    assert _rows(sqlite_db) == ([], [])


def test_the_cli_notes_a_contact(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_customer(database)
    monkeypatch.setattr("o2c.platform.config.get_settings", lambda: Settings(database_url=database.url))  # type: ignore[arg-type]
    root = argparse.ArgumentParser(prog="o2c")
    add_contact_command(root.add_subparsers(dest="decision", required=True))
    argv = ["contact", "C1", "--kind", "email", "--note", "sent the statement", "--by", "maria", "--note-id", "cli-1"]
    for _ in range(2):
        args = root.parse_args([*argv, "--follow-up", "2030-02-01"])
        assert args.run(args) == 0
    assert "email with C1 noted by maria (cli-1, follow up on 2030-02-01)" in capsys.readouterr().out
    notes, audit = _rows(database)
    assert [(n.kind, n.actor, n.follow_up_on) for n in notes] == [("email", "maria", date(2030, 2, 1))]
    assert len(audit) == 1
    args = root.parse_args(["contact", "NOBODY", "--note", "x", "--by", "maria"])
    assert args.run(args) == 1
    assert "no customer NOBODY" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        root.parse_args([*argv, "--follow-up", "next week"])
