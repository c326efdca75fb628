"""The published JSON Schemas, the migrations and the SendGrid sink's view of what we send."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sendgrid.helpers.mail import CustomArg, Mail
from sqlmodel import SQLModel

from o2c.devtools import schemas
from o2c.devtools.sendgrid_sink import problems
from tests.support import Database

ROOT = Path(__file__).resolve().parents[1]


def test_published_schemas_are_current() -> None:
    stale = schemas.stale(ROOT / "schemas")
    assert not stale, f"regenerate with `o2c schemas --write`: {stale}"


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_sink_accepts_what_the_sdk_sends() -> None:
    mail = Mail(
        from_email="billing@example.com",
        to_emails="ap@example.com",
        subject="Invoice",
        plain_text_content="text",
        html_content="<p>html</p>",
    )
    mail.custom_arg = [CustomArg("o2c_email_key", "k1")]
    assert problems(mail.get()) == []


def test_sink_refuses_what_sendgrid_refuses() -> None:
    assert problems({"personalizations": [], "from": {"email": "a@example.com"}}) == [
        "personalizations: at least one personalization is required"
    ]
    assert any(
        "unexpected" in p
        for p in problems(
            {"personalizations": [{"to": [{"email": "a@b.co"}]}], "from": {"email": "a@b.co"}, "colour": "red"}
        )
    )
    assert any("'from' is a required property" in p for p in problems({"personalizations": [{"to": []}]}))
