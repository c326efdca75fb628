"""The codec server's boundary: whatever an operator's client sends, the answer is the payloads, a 400 with
the reason, or a 413 for a body over the cap; never a 500."""

import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload, Payloads

from o2c.platform.codec import ENCODING, KEY_ID, EncryptionCodec, parse_keys
from o2c.web.codec_server import CODEC_MAX_BODY, codec_server

KEY = os.urandom(32)
CODEC = EncryptionCodec(parse_keys(f"k1:{base64.b64encode(KEY).decode()}"))
TOKEN = "operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UI = "http://localhost:8233"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sealed(data: bytes, key_id: bytes = b"k1") -> dict[str, Any]:
    """A payload as the remote codec protocol carries it: encrypted-looking, with the given ciphertext."""
    return {"metadata": {"encoding": b64(ENCODING), KEY_ID: b64(key_id)}, "data": b64(data)}


def document(*payloads: dict[str, Any]) -> bytes:
    return json.dumps({"payloads": list(payloads)}).encode()


def genuine(text: str) -> dict[str, Any]:
    payload = CODEC.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode()))
    return json.loads(json_format.MessageToJson(payload))


def authentic_but_not_a_payload() -> dict[str, Any]:
    nonce = os.urandom(12)
    return sealed(nonce + AESGCM(KEY).encrypt(nonce, b"\xff\xff\xff", b"k1"))


def app() -> Any:
    return codec_server(CODEC, TOKEN, [UI])


# (what is wrong, body, words the reason must contain)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty ciphertext", document(sealed(b"")), "0 bytes, fewer than a nonce and a tag (28): truncated"),
    ("ciphertext shorter than a nonce", document(sealed(b"12345")), "truncated"),
    ("a nonce and no tag", document(sealed(os.urandom(12))), "truncated"),
    ("one byte short of nonce and tag", document(sealed(os.urandom(27))), "truncated"),
    ("a nonce and a forged tag", document(sealed(os.urandom(28))), "does not authenticate"),
    ("a key id that is not UTF-8", document(sealed(os.urandom(40), key_id=b"\xff\xfe")), "not UTF-8"),
    ("a key id we do not hold", document(sealed(os.urandom(40), key_id=b"k9")), "'k9', which is not in"),
    ("base64 that cannot be decoded", document({"data": "a==="}), "not a payloads document"),
    (
        "base64 the lenient decoder makes short",
        document({"metadata": sealed(b"")["metadata"], "data": "!!!"}),
        "truncated",
    ),
    ("authentic, but not a payload", document(authentic_but_not_a_payload()), "not a payload"),
    ("one bad among good", document(genuine("a"), sealed(b"x"), genuine("b")), "truncated"),
    ("a JSON array", b"[]", "JSON object"),
    ("a JSON string", b'"payloads"', "JSON object"),
    ("null", b"null", "JSON object"),
    ("not JSON", b"{payloads", "not JSON"),
    ("not UTF-8", b"\xff\xfe\xfd", "not JSON"),
    ("nested 100,000 deep", b'{"payloads": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not JSON"),
    ("payloads a string", b'{"payloads": "x"}', "not a payloads document"),
    ("a null payload", b'{"payloads": [null]}', "not a payloads document"),
    ("a null metadata value", b'{"payloads": [{"metadata": {"encoding": null}}]}', "not a payloads document"),
    ("an unknown field", b'{"payloads": [], "extra": 1}', "not a payloads document"),
]


async def test_malformed_requests_are_a_400_with_the_reason() -> None:
    answers = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app(), raise_app_exceptions=False), base_url="http://codec"
    ) as http:
        for what, body, _ in MALFORMED:
            response = await http.post("/decode", content=body, headers=AUTH)
            answers[what] = (response.status_code, response.text)
    wrong = {
        what: answers[what] for what, _, words in MALFORMED if answers[what][0] != 400 or words not in answers[what][1]
    }
    assert wrong == {}


async def test_the_largest_payload_temporal_takes_passes_and_bodies_over_the_cap_do_not() -> None:
    consumed: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(128):  # 8 MiB in 64 KiB chunks, without a Content-Length
            consumed.append(number)
            yield b" " * (64 * 1024)

    largest = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(2 * 1024 * 1024))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://codec") as http:
        encoded = await http.post(
            "/encode", content=json_format.MessageToJson(Payloads(payloads=[largest])), headers=AUTH
        )
        decoded = await http.post("/decode", content=encoded.content, headers=AUTH)
        declared = await http.post("/decode", content=b" " * (CODEC_MAX_BODY + 1), headers=AUTH | {"Origin": UI})
        streamed = await http.post("/t/operator-token/decode", content=chunks())
    print(f"\na 2 MiB payload, encrypted, is {len(encoded.content)} bytes of JSON; the cap is {CODEC_MAX_BODY}")
    assert encoded.status_code == decoded.status_code == 200
    assert list(json_format.Parse(decoded.content, Payloads()).payloads) == [largest]
    assert len(encoded.content) < CODEC_MAX_BODY
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert declared.headers["access-control-allow-origin"] == UI, "the UI can read the refusal"
    assert len(consumed) == 65, "reading stopped at the chunk that crossed 4 MiB"


def base64_of(data: st.SearchStrategy[bytes]) -> st.SearchStrategy[str]:
    return data.map(b64)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
METADATA_VALUES = base64_of(st.sampled_from([ENCODING, b"k1", b"k2", b"json/plain", b"\xff"]) | st.binary(max_size=8))
GENUINE = genuine("someone@example.com")


def tampered(data: bytes) -> st.SearchStrategy[str]:
    """The genuine ciphertext cut short, or with one byte changed."""
    cut = st.integers(0, len(data)).map(lambda n: data[:n])
    flipped = st.integers(0, len(data) - 1).map(lambda i: data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :])
    return (cut | flipped).map(b64)


PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.dictionaries(
            st.sampled_from(["encoding", KEY_ID, "other"]) | st.text(max_size=5), METADATA_VALUES | JSON, max_size=3
        )
        | JSON,
        "data": base64_of(st.binary(max_size=64)) | st.text(max_size=8) | JSON,
    },
)
TAMPERED = tampered(base64.b64decode(GENUINE["data"])).map(lambda data: GENUINE | {"data": data})
DOCUMENTS = st.one_of(
    JSON,
    st.fixed_dictionaries({"payloads": st.lists(PAYLOADS | TAMPERED | st.just(GENUINE), max_size=3) | JSON}),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS, st.sampled_from(["/decode", "/encode"]))
async def test_no_request_is_a_500(doc: Any, path: str) -> None:
    # A server error raises out of the transport, with its traceback.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://codec") as http:
        response = await http.post(path, content=json.dumps(doc).encode(), headers=AUTH)
    assert response.status_code in (200, 400), response.text
