"""Customer text in email headers: a name carrying line breaks or other control characters cannot end the
subject and start a header of its own (``Bcc:``), whichever way it reached the customer master."""

import asyncio
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.credit import CreditActivities
from activities.email import EmailActivities, sendgrid_client
from activities.orders import OrderActivities
from models.activity_io import EmailKind, RecordOrder, SendEmail
from models.contract import ChangeCustomer, Customer
from models.policy import CreditRules, OrderPolicy
from models.tables import EmailOutbox
from o2c.devtools.sendgrid_sink import create_app as sink_app
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from tests.support import BackgroundServer, Database, free_port, sample_order


def unsafe(text: str) -> list[str]:
    """The characters of ``text`` that could break a header line: controls, format characters and the
    Unicode line and paragraph separators."""
    return [c for c in text if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")]


def header_fields(payload: dict[str, Any]) -> list[str]:
    """Every string SendGrid turns into a header of the delivered email."""
    people = [payload["from"], *([payload["reply_to"]] if "reply_to" in payload else [])]
    for personalization in payload["personalizations"]:
        for field in ("to", "cc", "bcc"):
            people += personalization.get(field, [])
        people += [{"subject": personalization.get("subject", "")}]
    fields = [payload.get("subject", "")] + [v for person in people for v in person.values()]
    fields += [a["filename"] for a in payload.get("attachments", [])]
    return fields + [f"{k}: {v}" for k, v in (payload.get("headers") or {}).items()]


@pytest.mark.parametrize(
    ("name", "mail_from"),
    [
        ("Evil\r\nBcc: x@y.z", "O2C Billing <billing@o2c.example.com>\n"),
        # O2C_MAIL_FROM too: a line break inside its display name used to turn it into an address.
        ("Evil\u2028Bcc: x@y.z\t\u202e\x1b[0m", '"O2C\r\nBilling" <billing@o2c.example.com>'),
    ],
)
async def test_a_customer_name_cannot_add_headers(
    name: str, mail_from: str, sqlite_db: Database, tmp_path: Path
) -> None:
    # What can really arrive: the contract takes such a name from a storefront and from finance.
    order = sample_order(customer=Customer(id="EVIL", name=name, email="evil@example.com"))
    assert order.customer.name == name.strip()
    assert ChangeCustomer(customer_id="EVIL", by="ar", reason="rename", name=name).name == name.strip()
    settings = Settings(database_url=sqlite_db.url, mail_from=mail_from)
    credit = CreditActivities(sqlite_db.engine, CreditRules())
    orders = OrderActivities(sqlite_db.engine, settings, OrderPolicy(), credit)
    ActivityEnvironment().run(orders.record_order, RecordOrder(order=order, placed_at=datetime.now(UTC)))

    sink_port = free_port()
    async with BackgroundServer(sink_app(tmp_path / "mail"), sink_port), httpx.AsyncClient() as http:
        settings = settings.model_copy(update={"sendgrid_host": f"http://127.0.0.1:{sink_port}"})
        email = EmailActivities(sqlite_db.engine, settings, sendgrid_client(settings))
        request = SendEmail(key="statement-EVIL", order_id=None, kind=EmailKind.STATEMENT, customer_id="EVIL")
        # In a thread: the sink answers on this test's event loop.
        await asyncio.to_thread(ActivityEnvironment().run, email.send_email, request)
        [mail] = (await http.get(f"http://127.0.0.1:{sink_port}/_sink/messages")).json()
    payload = mail["payload"]
    assert payload["from"] == {"name": "O2C Billing", "email": "billing@o2c.example.com"}
    assert payload["subject"].startswith("Statement of account for Evil Bcc: x@y.z")
    assert [unsafe(field) for field in header_fields(payload)] == [[] for _ in header_fields(payload)]
    assert [to["email"] for p in payload["personalizations"] for to in p["to"]] == ["evil@example.com"]
    assert not any("bcc" in p or "cc" in p for p in payload["personalizations"])
    # The name reads the same in the body and in the facts a SendGrid template may put in its subject.
    assert payload["content"][0]["value"].startswith("Hello Evil Bcc: x@y.z")
    assert not unsafe(payload["personalizations"][0]["dynamic_template_data"]["customer_name"])
    with transaction(sqlite_db.engine) as session:
        assert not unsafe(session.exec(select(EmailOutbox.subject)).one())
