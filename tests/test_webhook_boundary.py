"""The webhook's boundary: every field it reads from a (validly signed) event is checked before anything is
acted on, so a malformed event is a 400 naming the field, never a 500 and never half acted on; bodies are
capped (413) before they are read whole or stored."""

import itertools
import json
from collections.abc import AsyncIterator
from copy import deepcopy
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel import select

from activities.payments import METADATA_KEY
from models.tables import WebhookEvent
from o2c.platform.db import snapshot
from o2c.web.stripe_shapes import Charge, Dispute, Event, PaymentIntent, Refund, StripeObject
from o2c.web.webhook import WEBHOOK_MAX_BODY, create_app
from tests.support import Database
from tests.test_stripe_events import SECRET, event, signature_headers

# Stripe's current sample objects (stripe/openapi fixtures3.json), trimmed to what matters here, and the
# shapes the other tests and localstripe send: all of them must stay readable.
INTENT = {
    "id": "pi_1PgafyB7WZ01zgkWSjxsAJo3",
    "object": "payment_intent",
    "amount": 1099,
    "amount_received": 0,
    "currency": "usd",
    "last_payment_error": {"type": "idempotency_error"},
    "metadata": {"order_id": "O1", "invoice_number": "INV-2026-000001"},
    "status": "succeeded",
}
DISPUTE = {
    "id": "dp_1Pgc71B7WZ01zgkWMevJiAUx",
    "object": "dispute",
    "amount": 1000,
    "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    "currency": "usd",
    "evidence_details": {"due_by": 1723679999, "has_evidence": False, "past_due": False, "submission_count": 0},
    "metadata": {},
    "payment_intent": None,
    "reason": "general",
    "status": "needs_response",
}
REFUND = {
    "id": "re_1Pgc72B7WZ01zgkWqPvrRrPE",
    "object": "refund",
    "amount": 100,
    "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    "currency": "usd",
    "metadata": {},
    "payment_intent": None,
    "reason": None,
    "status": "succeeded",
}
CHARGE = {
    "id": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    "object": "charge",
    "amount": 100,
    "currency": "usd",
    "refunds": {"data": [REFUND], "has_more": False, "object": "list"},
}


class NoTemporal:
    """A Temporal client that must not be asked anything: a refused event acts on nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> "NoTemporal":
        self.calls.append(f"handle {workflow_id}")
        raise AssertionError(f"no workflow should be touched, got {workflow_id}")

    async def start_workflow(self, workflow: str, *_: Any, id: str, **__: Any) -> None:
        self.calls.append(f"start {id}")
        raise AssertionError(f"no workflow should start, got {id}")


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``obj`` with the field at dotted ``path`` set to ``value`` (``...`` removes it)."""
    copy = deepcopy(obj)
    target: Any = copy
    *parents, last = (int(key) if key.isdigit() else key for key in path.split("."))
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copy


EVENT_NUMBERS = itertools.count()


def body_of(kind: str, obj: Any, **envelope: Any) -> bytes:
    whole = event(f"evt_bad_{next(EVENT_NUMBERS)}", kind, obj)  # each its own: none is a duplicate
    for key, value in envelope.items():
        if value is ...:
            del whole[key]
        else:
            whole[key] = value
    return json.dumps(whole).encode()


PAID, FAILED = "payment_intent.succeeded", "payment_intent.payment_failed"
OPENED, CLOSED = "charge.dispute.created", "charge.dispute.closed"
REFUNDED, CHARGE_REFUNDED = "refund.created", "charge.refunded"
DEEP = b'{"id": "evt_deep", "type": "payment_intent.succeeded", "created": 1, "data": {"object": ' + (
    b"[" * 100_000 + b"]" * 100_000 + b"}}"
)

# (what is wrong, signed body, words the reason must name)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("a JSON array", b"[]", "body: Input should be an object"),
    ("not JSON", b"{not json", "Invalid JSON"),
    ("JSON nested 100,000 deep", DEEP, "recursion limit"),
    ("no id", body_of(PAID, INTENT, id=...), "id"),
    ("a numeric id", body_of(PAID, INTENT, id=5), "id"),
    ("an id longer than a column", body_of(PAID, INTENT, id="evt_" + "x" * 100), "id"),
    ("no type", body_of(PAID, INTENT, type=...), "type"),
    ("no created", body_of(PAID, INTENT, created=...), "created"),
    ("created as text", body_of(PAID, INTENT, created="yesterday"), "created"),
    ("created past year 9999", body_of(PAID, INTENT, created=10**20), "created"),
    ("no data", body_of(PAID, INTENT, data=...), "data"),
    ("data a string", body_of(PAID, INTENT, data="x"), "data"),
    ("no data.object", body_of(PAID, INTENT, data={}), "data.object"),
    ("data.object null", body_of(PAID, None), "data.object"),
    ("data.object a list", body_of(PAID, [INTENT]), "data.object"),
    ("data.object a string", body_of(PAID, "pi_1"), "data.object"),
    ("metadata a string", body_of(PAID, changed(INTENT, "metadata", "order O1")), "data.object.metadata"),
    ("metadata a list", body_of(PAID, changed(INTENT, "metadata", ["O1"])), "data.object.metadata"),
    ("order_id a number", body_of(PAID, changed(INTENT, "metadata.order_id", 1)), "metadata.order_id"),
    ("order_id with spaces", body_of(PAID, changed(INTENT, "metadata.order_id", "O 1")), "metadata.order_id"),
    ("order_id too long", body_of(PAID, changed(INTENT, "metadata.order_id", "O" * 65)), "metadata.order_id"),
    ("an unknown channel", body_of(PAID, changed(INTENT, "metadata.o2c_channel", "barter")), "o2c_channel"),
    ("invoice_number a list", body_of(PAID, changed(INTENT, "metadata.invoice_number", [])), "invoice_number"),
    ("idempotency key a dict", body_of(PAID, changed(INTENT, "metadata.o2c_idempotency_key", {})), "idempotency"),
    ("no intent id", body_of(PAID, changed(INTENT, "id", ...)), "data.object.id"),
    ("intent id null", body_of(PAID, changed(INTENT, "id", None)), "data.object.id"),
    ("no amount", body_of(PAID, changed(INTENT, "amount", ...)), "data.object.amount"),
    ("amount as text", body_of(PAID, changed(INTENT, "amount", "1099")), "data.object.amount"),
    ("amount a fraction", body_of(PAID, changed(INTENT, "amount", 10.99)), "data.object.amount"),
    ("amount true", body_of(PAID, changed(INTENT, "amount", True)), "data.object.amount"),
    ("amount negative", body_of(PAID, changed(INTENT, "amount", -1)), "data.object.amount"),
    ("amount zero", body_of(PAID, changed(INTENT, "amount", 0)), "data.object.amount"),
    ("amount beyond any order", body_of(PAID, changed(INTENT, "amount", 10**16)), "data.object.amount"),
    ("amount_received as text", body_of(PAID, changed(INTENT, "amount_received", "x")), "amount_received"),
    ("no currency", body_of(PAID, changed(INTENT, "currency", ...)), "data.object.currency"),
    ("currency a number", body_of(PAID, changed(INTENT, "currency", 840)), "data.object.currency"),
    ("currency of four letters", body_of(PAID, changed(INTENT, "currency", "usdd")), "data.object.currency"),
    ("an unknown currency", body_of(PAID, changed(INTENT, "currency", "abc")), "unknown currency"),
    ("a failed intent's error a string", body_of(FAILED, changed(INTENT, "last_payment_error", "x")), "error"),
    ("a decline message a number", body_of(FAILED, changed(INTENT, "last_payment_error.message", 5)), "message"),
    ("a failed intent without amount", body_of(FAILED, changed(INTENT, "amount", ...)), "data.object.amount"),
    ("no dispute id", body_of(OPENED, changed(DISPUTE, "id", ...)), "data.object.id"),
    ("dispute amount as text", body_of(OPENED, changed(DISPUTE, "amount", "10")), "data.object.amount"),
    ("dispute currency empty", body_of(OPENED, changed(DISPUTE, "currency", "")), "data.object.currency"),
    ("dispute of no payment", body_of(OPENED, changed(DISPUTE, "charge", None)), "names the payment"),
    ("dispute charge a number", body_of(OPENED, changed(DISPUTE, "charge", 5)), "data.object.charge"),
    ("expanded charge without id", body_of(OPENED, changed(DISPUTE, "charge", {"id": 5})), "data.object.charge"),
    ("evidence_details a string", body_of(OPENED, changed(DISPUTE, "evidence_details", "soon")), "evidence_details"),
    ("due_by as text", body_of(OPENED, changed(DISPUTE, "evidence_details.due_by", "Friday")), "due_by"),
    ("due_by past year 9999", body_of(OPENED, changed(DISPUTE, "evidence_details.due_by", 10**20)), "due_by"),
    ("dispute reason a dict", body_of(OPENED, changed(DISPUTE, "reason", {})), "data.object.reason"),
    ("no dispute status", body_of(OPENED, changed(DISPUTE, "status", ...)), "data.object.status"),
    ("closed dispute status a list", body_of(CLOSED, changed(DISPUTE, "status", ["won"])), "data.object.status"),
    ("no refund id", body_of(REFUNDED, changed(REFUND, "id", ...)), "data.object.id"),
    ("refund amount as text", body_of(REFUNDED, changed(REFUND, "amount", "100")), "data.object.amount"),
    ("refund currency unknown", body_of(REFUNDED, changed(REFUND, "currency", "zzz")), "unknown currency"),
    ("refund status a sentence", body_of(REFUNDED, changed(REFUND, "status", "done, I think")), "status"),
    ("refund metadata a string", body_of(REFUNDED, changed(REFUND, "metadata", "x")), "data.object.metadata"),
    ("refund key a number", body_of(REFUNDED, changed(REFUND, "metadata", {"o2c_refund_key": 1})), "o2c_refund_key"),
    ("charge refunds a string", body_of(CHARGE_REFUNDED, changed(CHARGE, "refunds", "x")), "refunds"),
    ("charge refunds.data a dict", body_of(CHARGE_REFUNDED, changed(CHARGE, "refunds.data", {})), "refunds.data"),
    (
        "the second of two refunds malformed (the first must not start either)",
        body_of(CHARGE_REFUNDED, changed(CHARGE, "refunds.data", [REFUND, changed(REFUND, "amount", ...)])),
        "refunds.data.1.amount",
    ),
]


def receiver(database: Database, client: Any) -> httpx.AsyncClient:
    app = create_app(client, SECRET, database.engine)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://webhook"
    )


def stored_events(database: Database) -> list[WebhookEvent]:
    with snapshot(database.engine) as session:
        return list(session.exec(select(WebhookEvent)).all())


async def test_a_malformed_event_is_a_400_that_names_the_field(database: Database) -> None:
    client = NoTemporal()
    answers: dict[str, tuple[int, str]] = {}
    async with receiver(database, client) as http:
        for what, body, _ in MALFORMED:
            response = await http.post("/stripe/webhook", content=body, headers=signature_headers(body))
            answers[what] = (response.status_code, response.text)
    wrong = {
        what: answers[what] for what, _, words in MALFORMED if answers[what][0] != 400 or words not in answers[what][1]
    }
    assert wrong == {}
    assert client.calls == [], "nothing was acted on"
    assert stored_events(database) == [], "nothing was recorded: Stripe's retry gets the same answer"


class RecordingTemporal:
    """Answers as Temporal would when no order workflow exists, and records what was asked."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_workflow(self, workflow: str, *_: Any, id: str, **__: Any) -> None:
        self.started.append(id)


async def test_stripes_own_shapes_stay_readable(database: Database) -> None:
    """The checks refuse nothing Stripe sends: its current sample objects, null where it allows null."""
    client = RecordingTemporal()
    inquiry = changed(DISPUTE, "status", "warning_needs_response")
    no_order = changed(INTENT, "metadata", None)
    bare_charge = changed(CHARGE, "refunds", ...)  # API versions since 2022-11-15 leave refunds out
    cases = [
        (FAILED, no_order, "ignored: no order_id in metadata"),
        (PAID, changed(INTENT, "metadata", {"order_id": ""}), "ignored: no order_id in metadata"),
        (OPENED, inquiry, "inquiry: no funds withdrawn, nothing booked"),
        (CLOSED, changed(DISPUTE, "status", "warning_closed"), "ignored: dispute closed as warning_closed"),
        (REFUNDED, REFUND, "started stripe-refund-re_1Pgc72B7WZ01zgkWqPvrRrPE-succeeded"),
        (CHARGE_REFUNDED, bare_charge, "0 refund(s) taken from the charge"),
        (CHARGE_REFUNDED, changed(CHARGE, "refunds.data", None), "0 refund(s) taken from the charge"),
    ]
    async with receiver(database, client) as http:
        outcomes = []
        for number, (kind, obj, _) in enumerate(cases):
            body = json.dumps(event(f"evt_{number}", kind, obj)).encode()
            response = await http.post("/stripe/webhook", content=body, headers=signature_headers(body))
            outcomes.append(response.json().get("outcome"))
    assert outcomes == [expected for *_, expected in cases]
    assert client.started == ["stripe-refund-re_1Pgc72B7WZ01zgkWqPvrRrPE-succeeded"]


def padded(size: int) -> bytes:
    """A signed-able event of exactly ``size`` bytes (an event type the receiver ignores)."""
    whole = event("evt_big", "customer.created", {"id": "cus_1", "description": ""})
    base = len(json.dumps(whole).encode())
    whole["data"]["object"]["description"] = "x" * (size - base)
    body = json.dumps(whole).encode()
    assert len(body) == size
    return body


async def test_bodies_over_the_cap_are_refused_before_they_are_read(database: Database) -> None:
    consumed: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(64):  # 4 MiB in 64 KiB chunks, sent without a Content-Length
            consumed.append(number)
            yield b" " * (64 * 1024)

    largest = padded(WEBHOOK_MAX_BODY)
    async with receiver(database, NoTemporal()) as http:
        at_cap = await http.post("/stripe/webhook", content=largest, headers=signature_headers(largest))
        over = padded(WEBHOOK_MAX_BODY + 1)
        declared = await http.post("/stripe/webhook", content=over, headers=signature_headers(over))
        streamed = await http.post("/stripe/webhook", content=chunks(), headers=signature_headers(b""))
        lying = await http.post(
            "/stripe/webhook", content=b"{}", headers={"Content-Length": str(2**40), **signature_headers(b"{}")}
        )
    assert (at_cap.status_code, at_cap.json()) == (200, {"ignored": "customer.created"})
    assert [declared.status_code, streamed.status_code, lying.status_code] == [413, 413, 413]
    assert "1048576 bytes" in declared.json()["error"]
    assert len(consumed) == 17, "reading stopped at the chunk that crossed 1 MiB"
    assert stored_events(database) == []


# Values at and just across each bound the receiver relies on (amounts, unix times, id and text lengths,
# currencies, statuses, channels), and JSON of the wrong kinds.
GOOD_AMOUNTS, BAD_AMOUNTS = [1, 10**15], [0, -1, 10**15 + 1, 2**63, 1.0, "1", True]
GOOD_TIMES, BAD_TIMES = [0, 253_402_300_799], [-1, 253_402_300_800, 1.5]
GOOD_CURRENCIES, BAD_CURRENCIES = ["usd", "USD", "jpy", "kwd"], ["xau", "xts", "us", "usdd", "", " usd"]
GOOD_IDS, BAD_IDS = ["pi_1", "x" * 64, " re_1 "], ["", "x" * 65, "a b", "é", "_x"]
GOOD_TEXTS, BAD_TEXTS = ["", "x" * 2000, "x" * 2000 + " "], ["x" * 2001]
GOOD_STATUSES, BAD_STATUSES = ["won", "lost", "warning_closed", "x" * 40], ["x" * 41, "Won", "won!"]
GOOD_CHANNELS, BAD_CHANNELS = ["card", "direct_debit", "bank_transfer"], ["barter", "CARD"]
WRONG_KINDS: list[Any] = [None, True, 5, 0.5, [], {}, {"id": "ch_1"}, {"id": 5}]
EDGES = (
    GOOD_AMOUNTS + BAD_AMOUNTS + GOOD_TIMES + BAD_TIMES + GOOD_CURRENCIES + BAD_CURRENCIES + GOOD_IDS + BAD_IDS
) + (GOOD_TEXTS + BAD_TEXTS + GOOD_STATUSES + BAD_STATUSES + GOOD_CHANNELS + BAD_CHANNELS + WRONG_KINDS)

# Every field the receiver reads present, so that each can be set to each edge in turn.
EVERY_FIELD: list[tuple[type[StripeObject], dict[str, Any]]] = [
    (
        PaymentIntent,
        INTENT
        | {
            "metadata": {"order_id": "O1", "invoice_number": "INV-1", "o2c_channel": "card", METADATA_KEY: "k1"},
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds", "message": "no"},
        },
    ),
    (Dispute, DISPUTE | {"payment_intent": "pi_1", "status": "won"}),
    (Refund, REFUND | {"payment_intent": "pi_1", "metadata": {"o2c_refund_key": "refund-1"}}),
    (Charge, CHARGE),
]


def converts_if_accepted(shape: type[StripeObject], obj: Any, created: Any) -> bool:
    """False when the envelope or the object's shape refuses it; else builds every contract message the
    receiver builds from such an object, which must not fail."""
    try:
        event = Event.model_validate({"id": "evt_1", "type": "any", "created": created, "data": {"object": obj}})
        parsed = shape.model_validate(event.data.obj)
    except ValidationError:
        return False
    if isinstance(parsed, PaymentIntent):
        parsed.payment(event.created)
        parsed.failure()
    elif isinstance(parsed, Dispute):
        parsed.opened()
        if parsed.status in ("won", "lost"):
            parsed.closed(event.created)
    elif isinstance(parsed, Refund):
        parsed.seen()
    elif isinstance(parsed, Charge):
        for refund in parsed.all_refunds():
            refund.seen()
    return True


def paths(value: Any, prefix: str = "") -> list[str]:
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, inner in items:
        found.append(f"{prefix}{key}")
        found += paths(inner, f"{prefix}{key}.")
    return found


def test_each_field_at_each_edge_is_refused_or_converts() -> None:
    accepted = refused = 0
    for shape, base in EVERY_FIELD:
        for path in paths(base):
            for value in [*EDGES, ...]:
                if converts_if_accepted(shape, changed(base, path, value), created=1_700_000_000):
                    accepted += 1
                else:
                    refused += 1
        for created in EDGES:
            converts_if_accepted(shape, base, created)
    assert accepted > 1000 and refused > 1000, "both sides of the bounds were reached"


# Combinations: each field mostly a value it accepts, otherwise an edge or any JSON at all.
ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=5,
)


def field(good: st.SearchStrategy[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    wrong = st.sampled_from(bad) | ANYTHING
    return st.floats(0, 1).flatmap(lambda draw: good if draw < 0.85 else wrong)


AMOUNTS = field(st.sampled_from(GOOD_AMOUNTS) | st.integers(1, 10**15), BAD_AMOUNTS)
TIMES = field(st.sampled_from(GOOD_TIMES) | st.integers(0, 253_402_300_799), BAD_TIMES)
CURRENCIES = field(st.sampled_from(GOOD_CURRENCIES), BAD_CURRENCIES)
IDS = field(st.sampled_from(GOOD_IDS) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True), BAD_IDS)
TEXTS = field(st.sampled_from(GOOD_TEXTS) | st.text(max_size=30), BAD_TEXTS)
STATUSES = field(st.sampled_from(GOOD_STATUSES), BAD_STATUSES)
CHANNELS = field(st.sampled_from(GOOD_CHANNELS), BAD_CHANNELS)
RELATED = field(IDS | st.fixed_dictionaries({"id": IDS}), [{}, None])


def objects(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=optional)


INTENT_METADATA = objects({}, {"order_id": IDS, "o2c_channel": CHANNELS, "invoice_number": TEXTS, METADATA_KEY: IDS})
PAYMENT_ERROR = objects({}, {"code": TEXTS, "decline_code": TEXTS, "message": TEXTS})
REFUND_OBJECTS = objects(
    {"id": IDS, "amount": AMOUNTS, "currency": CURRENCIES},
    {
        "charge": RELATED,
        "payment_intent": RELATED,
        "status": STATUSES,
        "metadata": field(st.none() | objects({}, {"o2c_refund_key": IDS}), ["x", []]),
    },
)
SHAPES_AND_OBJECTS = st.one_of(
    st.tuples(
        st.just(PaymentIntent),
        objects(
            {"id": IDS, "amount": AMOUNTS, "currency": CURRENCIES},
            {
                "amount_received": AMOUNTS,
                "metadata": field(st.none() | INTENT_METADATA, ["order O1", ["O1"]]),
                "last_payment_error": field(st.none() | PAYMENT_ERROR, ["declined"]),
            },
        ),
    ),
    st.tuples(
        st.just(Dispute),
        objects(
            {"id": IDS, "amount": AMOUNTS, "currency": CURRENCIES, "status": STATUSES, "charge": RELATED},
            {
                "payment_intent": RELATED,
                "reason": TEXTS,
                "evidence_details": field(st.none() | objects({}, {"due_by": TIMES}), ["soon"]),
            },
        ),
    ),
    st.tuples(st.just(Refund), REFUND_OBJECTS),
    st.tuples(
        st.just(Charge),
        objects({}, {"refunds": st.none() | objects({}, {"data": st.none() | st.lists(REFUND_OBJECTS, max_size=2)})}),
    ),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPES_AND_OBJECTS, TIMES)
def test_what_passes_the_checks_converts_to_the_contract(
    shape_and_object: tuple[type[StripeObject], dict[str, Any]], created: Any
) -> None:
    """An event either is refused by its envelope and its object's Stripe shape, or turns into every contract
    message the receiver builds from it: nothing fails later, half way through acting on an event."""
    shape, obj = shape_and_object
    tally(f"{shape.__name__} {'accepted' if converts_if_accepted(shape, obj, created) else 'refused'}")
