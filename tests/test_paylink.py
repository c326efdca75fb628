"""The pay page on its own, against localstripe: who may open it, for how long, and that a customer is
charged once per invoice and amount however often the form is sent."""

import argparse
import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
import yaml
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.collections import DunningActivities
from activities.payments import stripe_client
from models.activity_io import DunningStepRun
from models.tables import Invoice
from o2c.cli import services as cli
from o2c.platform.config import PaymentLinkSecretMissing, Settings
from o2c.platform.db import transaction
from o2c.platform.paylinks import payment_link
from o2c.web.paylink import PayPage
from o2c.web.webhook import create_app
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database, RecordingSendGrid

ROOT = Path(__file__).resolve().parents[1]
SECRET = "paylink-secret-of-these-tests"
PAY_WITH_VISA = b"payment_method=pm_card_visa"


def page_settings(db: Database, localstripe: str, **fields: Any) -> Settings:
    return Settings(
        database_url=db.url,
        stripe_api_base=localstripe,
        payment_link_secret=SECRET,
        public_url="http://pay.test",
        **fields,
    )


def open_invoice(db: Database, total_minor: int = 12_34) -> str:
    """A bank-transfer invoice of its own (localstripe is shared by the whole session)."""
    number = f"INV-{uuid.uuid4().hex[:10]}"
    add_customer(db)
    add_order(db, f"O-{number}", total_minor)
    add_invoice(db, number, f"O-{number}", total_minor, due=date.today() + timedelta(days=30))
    return number


@asynccontextmanager
async def pay_site(settings: Settings, db: Database, api: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook receiver's routes with its pay page, served in process."""
    app = create_app(None, "whsec_unused", db.engine, PayPage(db.engine, api, settings))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pay.test") as http:
        yield http


def stored_intent(db: Database, number: str) -> str | None:
    with transaction(db.engine) as session:
        invoice = session.get(Invoice, number)
        assert invoice is not None
        return invoice.stripe_payment_intent


def set_stored_intent(db: Database, number: str, value: str) -> None:
    with transaction(db.engine) as session:
        invoice = session.get(Invoice, number)
        assert invoice is not None
        invoice.stripe_payment_intent = value
        session.add(invoice)


def paid_intents(api: stripe.StripeClient, number: str) -> list[str]:
    """The invoice's PaymentIntents that took money (localstripe charges an intent at most once)."""
    intents = api.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    mine = [i for i in intents if (i.to_dict().get("metadata") or {}).get("invoice_number") == number]
    return [i.id for i in mine if i.status == "succeeded"]


def test_no_public_default_for_the_payment_link_secret(tmp_path: Path) -> None:
    """Without O2C_PAYMENT_LINK_SECRET only the secret the dev stack made in its state folder is used;
    with neither (or a short one) nothing is signed, and the error names the variable."""
    bare = Settings(payment_link_secret="", state_dir=tmp_path)
    with pytest.raises(PaymentLinkSecretMissing, match="O2C_PAYMENT_LINK_SECRET is not set"):
        bare.resolved_payment_link_secret()
    with pytest.raises(PaymentLinkSecretMissing, match="O2C_PAYMENT_LINK_SECRET is too short"):
        Settings(payment_link_secret="short", state_dir=tmp_path).resolved_payment_link_secret()
    (tmp_path / "payment-link-secret").write_text("made-by-the-dev-stack-0123456789\n")
    assert bare.resolved_payment_link_secret() == "made-by-the-dev-stack-0123456789"
    assert Settings(payment_link_secret=SECRET, state_dir=tmp_path).resolved_payment_link_secret() == SECRET
    with pytest.raises(PaymentLinkSecretMissing):
        payment_link(Settings(payment_link_secret="", state_dir=tmp_path / "none"), "INV-1", datetime.now(UTC))


def test_worker_and_webhook_refuse_to_start_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: Settings(payment_link_secret="", state_dir=tmp_path))
    assert cli.cmd_worker(argparse.Namespace(processes=None)) == 2
    assert cli.cmd_webhook(argparse.Namespace(port=None)) == 2
    refusals = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in refusals] == ["o2c worker", "o2c webhook"]
    assert all("O2C_PAYMENT_LINK_SECRET is not set" in line for line in refusals)


def test_compose_requires_the_payment_link_secret() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("worker", "webhook"):
        value = services[name]["environment"]["O2C_PAYMENT_LINK_SECRET"]
        assert value.startswith("${O2C_PAYMENT_LINK_SECRET:?"), f"{name} must not start without the secret"


async def test_links_open_the_page_until_they_expire(database: Database, localstripe: str) -> None:
    settings = page_settings(database, localstripe, payment_link_days=30)
    number = open_invoice(database)
    fresh = payment_link(settings, number, datetime.now(UTC) - timedelta(days=29))
    stale = payment_link(settings, number, datetime.now(UTC) - timedelta(days=31))
    expires = int(parse_qs(urlsplit(stale).query)["e"][0])
    extended = stale.replace(f"e={expires}", f"e={expires + 7 * 86400}")  # the token signs the expiry too
    async with pay_site(settings, database, stripe_client(settings)) as http:
        opened, expired, forged = await http.get(fresh), await http.get(stale), await http.get(extended)
        refused_payment = await http.post(stale, content=PAY_WITH_VISA)
    assert opened.status_code == 200 and "12.34 USD" in opened.text
    assert expired.status_code == 410 and "This payment link has expired" in expired.text
    assert "latest reminder" in expired.text and settings.accounts_receivable_email in expired.text
    assert "12.34" not in expired.text
    assert forged.status_code == 404
    assert refused_payment.status_code == 410


def test_every_reminder_carries_a_fresh_link(sqlite_db: Database, localstripe: str) -> None:
    """A reminder months after the invoice links to a page that opens for O2C_PAYMENT_LINK_DAYS from when the
    reminder was sent, not from when the invoice was."""
    settings = page_settings(sqlite_db, localstripe, payment_link_days=30)
    number = open_invoice(sqlite_db)
    mail = RecordingSendGrid()
    reminder = DunningStepRun(
        order_id=f"O-{number}",
        invoice_number=number,
        step_name="overdue-1",
        level=1,
        template="overdue",
        escalate=False,
        amount_due_minor=12_34,
        due_date=date.today() - timedelta(days=100),
    )
    ActivityEnvironment().run(DunningActivities(sqlite_db.engine, settings, mail).run_dunning_step, reminder)
    body = mail.sent[0]["content"][0]["value"]
    link = body.split("Or pay online by card: ")[1].split()[0]
    expires = int(parse_qs(urlsplit(link).query)["e"][0])
    assert abs(expires - (time.time() + 30 * 86400)) < 60
    page = PayPage(sqlite_db.engine, stripe_client(settings), settings)
    query = parse_qs(urlsplit(link).query)
    assert page.refusal(number, query["e"][0], query["t"][0]) is None


@pytest.mark.parametrize(
    "query",
    ["t=%C3%A9", "e=1&t=%C3%A9", "e=%D9%A1%D9%A2&t=" + "0" * 32, "e=99999999999&t=" + "0" * 31 + "%C3%A9", ""],
    ids=["non-ascii-token", "non-ascii-token-with-expiry", "arabic-digits", "non-ascii-tail", "none"],
)
async def test_a_malformed_link_is_refused_with_a_reason(sqlite_db: Database, localstripe: str, query: str) -> None:
    settings = page_settings(sqlite_db, localstripe)
    number = open_invoice(sqlite_db)
    async with pay_site(settings, sqlite_db, stripe_client(settings)) as http:
        shown = await http.get(f"/pay/{number}?{query}")
        posted = await http.post(f"/pay/{number}?{query}", content=PAY_WITH_VISA)
    assert shown.status_code == posted.status_code == 400
    assert "incomplete or damaged" in shown.text


async def test_two_submits_at_once_charge_once(database: Database, localstripe: str) -> None:
    """Two submits at once (a double click, two tabs), both past reading the invoice before either claims it:
    one confirms, the other is told a payment is under way; one more afterwards is told it was received.
    One charge, never a 500."""
    settings = page_settings(database, localstripe)
    api = stripe_client(settings)
    number = open_invoice(database)
    link = payment_link(settings, number, datetime.now(UTC))
    stripe_api = Choreographed(api)
    async with pay_site(settings, database, stripe_api) as http:
        assert (await http.get(link)).status_code == 200
        submits = [asyncio.create_task(http.post(link, content=PAY_WITH_VISA)) for _ in range(2)]
        assert await asyncio.to_thread(stripe_api.confirming.wait, 10), "no submit reached Stripe's confirm"
        answered, confirming = await asyncio.wait(submits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        stripe_api.release.set()
        assert len(answered) == 1, "the submit not confirming never answered"
        second, first = answered.pop().result(), await confirming.pop()
        again = await http.post(link, content=PAY_WITH_VISA)
        reopened = await http.get(link)
    assert second.status_code == 409 and "is being made right now" in second.text
    assert first.status_code == 200 and "Thank you: your payment of 12.34 USD was received" in first.text
    assert again.status_code == 200 and "was received" in again.text
    assert reopened.status_code == 200 and "was received" in reopened.text and "<form" not in reopened.text
    assert len(paid_intents(api, number)) == 1
    assert stored_intent(database, number) == paid_intents(api, number)[0]  # the claim was released


async def test_a_declined_card_is_told_and_another_card_pays(database: Database, localstripe: str) -> None:
    settings = page_settings(database, localstripe)
    api = stripe_client(settings)
    number = open_invoice(database)
    link = payment_link(settings, number, datetime.now(UTC))
    async with pay_site(settings, database, api) as http:
        declined = await http.post(link, content=b"payment_method=pm_card_chargeCustomerFail")
        unknown = await http.post(link, content=b"payment_method=pm_nobody_made_this")
        paid = await http.post(link, content=PAY_WITH_VISA)
    assert declined.status_code == 402 and "Your card was declined" in declined.text
    assert unknown.status_code == 400 and "The payment could not be made" in unknown.text
    assert paid.status_code == 200 and "was received" in paid.text
    assert len(paid_intents(api, number)) == 1


async def test_a_payment_intent_stripe_forgot_is_replaced(database: Database, localstripe: str) -> None:
    """localstripe starts empty after the dev stack restarts, while the invoice still names its intent."""
    settings = page_settings(database, localstripe)
    api = stripe_client(settings)
    number = open_invoice(database)
    set_stored_intent(database, number, "pi_from_before_the_restart")
    link = payment_link(settings, number, datetime.now(UTC))
    async with pay_site(settings, database, api) as http:
        page = await http.get(link)
        paid = await http.post(link, content=PAY_WITH_VISA)
    assert page.status_code == 200 and "12.34 USD" in page.text
    replacement = stored_intent(database, number)
    assert replacement is not None and replacement != "pi_from_before_the_restart"
    assert api.v1.payment_intents.retrieve(replacement).amount == 12_34
    assert paid.status_code == 200 and paid_intents(api, number) == [replacement]


async def test_stripe_is_never_called_inside_a_transaction(database: Database, localstripe: str) -> None:
    """Before each Stripe call, another thread must be able to take a write transaction on the invoice's row
    at once (SQLite's single writer, PostgreSQL's row lock): a slow Stripe holds up nobody's writes."""
    settings = page_settings(database, localstripe)
    number = open_invoice(database)
    watched = WatchedStripe(stripe_client(settings), lambda: writable_at_once(database, number))
    link = payment_link(settings, number, datetime.now(UTC))
    async with pay_site(settings, database, watched) as http:
        opened = await http.get(link)  # creates the intent
        reopened = await http.get(link)  # reads it back
        paid = await http.post(link, content=PAY_WITH_VISA)
    assert watched.held == [], f"Stripe called while a transaction was open: {watched.held}"
    assert opened.status_code == reopened.status_code == paid.status_code == 200
    assert watched.calls == 6  # create; retrieve; retrieve, retrieve under the claim, update, confirm


def writable_at_once(db: Database, number: str) -> bool:
    done = threading.Event()

    def write() -> None:
        with transaction(db.engine) as session:
            session.exec(select(Invoice).where(Invoice.number == number).with_for_update()).first()
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done.wait(2)


class WatchedStripe:
    """The real client, but before each PaymentIntent call ``check`` must hold."""

    def __init__(self, api: stripe.StripeClient, check: Callable[[], bool]) -> None:
        self._intents = api.v1.payment_intents
        self._check = check
        self.calls = 0
        self.held: list[str] = []
        self.v1 = self

    @property
    def payment_intents(self) -> "WatchedStripe":
        return self

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._intents, name)

        def watched(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if not self._check():
                self.held.append(name)
            return method(*args, **kwargs)

        return watched


class Choreographed:
    """The real client, with two submits made to race: the first two reads of the intent wait for each other
    (both submits have read the invoice before either claims it), and the first confirm waits at Stripe's
    door until ``release`` is set (the other submit answers meanwhile)."""

    def __init__(self, api: stripe.StripeClient) -> None:
        self._intents = api.v1.payment_intents
        self._both_read = threading.Barrier(2, timeout=5)
        self._reads = 0
        self._lock = threading.Lock()
        self.confirming = threading.Event()
        self.release = threading.Event()
        self.v1 = self

    @property
    def payment_intents(self) -> "Choreographed":
        return self

    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._reads += 1
            meet = self._reads <= 2
        if meet:
            self._both_read.wait()
        return self._intents.retrieve(*args, **kwargs)

    def confirm(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            first = not self.confirming.is_set()
            self.confirming.set()
        if first:
            self.release.wait(10)
        return self._intents.confirm(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._intents, name)
