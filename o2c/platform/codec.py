"""Customer data encrypted in Temporal: an AES-256-GCM payload codec, and the codec server the Temporal UI
calls to show payloads to authorised operators.

Every payload (workflow inputs and results, activity arguments and results, signals, updates, queries,
summaries) is encrypted by the client and worker before it leaves the process; Temporal stores only
ciphertext. The key id travels in the payload's metadata, so keys rotate: ``O2C_PAYLOAD_KEYS`` lists
``id:base64key`` pairs, the first encrypts, all of them decrypt. The key id is also the AEAD's associated
data, so a payload cannot be relabelled to another key. Payloads without our encoding (histories recorded
before encryption was turned on) pass through unchanged.
"""

import base64
import hmac
import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from o2c.web.body_limit import BodyLimit, MiB

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16
# Temporal refuses payloads over 2 MB, and the UI asks for one event's payloads at a time: even a 2 MB
# payload, base64 in JSON (4/3), stays under 3 MiB. The body is held in memory to be parsed.
CODEC_MAX_BODY = 4 * MiB


class PayloadKeyError(ValueError):
    """A key list that cannot be used, or a payload it cannot decrypt (unknown key, altered, truncated)."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """``"k2:BASE64,k1:BASE64"`` → ordered {id: 32-byte key}; the first one encrypts."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key_id, _, encoded = part.partition(":")
        if not key_id or not encoded:
            raise PayloadKeyError("O2C_PAYLOAD_KEYS entries are id:base64key, separated by commas")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise PayloadKeyError(f"payload key {key_id!r} is not base64") from exc
        if len(key) != 32:
            raise PayloadKeyError(f"payload key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        keys[key_id] = key
    return keys


def new_key_spec(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise PayloadKeyError("no payload keys")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._active].encrypt(nonce, payload.SerializeToString(), self._active.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self._active.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        try:
            key_id = payload.metadata.get(KEY_ID, b"").decode()
        except UnicodeDecodeError as exc:
            raise PayloadKeyError("payload key id is not UTF-8 text, so not one of ours") from exc
        aead = self._keys.get(key_id)
        if aead is None:  # the id is whatever the caller sent: shown cut short
            raise PayloadKeyError(f"payload encrypted with key {key_id[:80]!r}, which is not in O2C_PAYLOAD_KEYS")
        if len(payload.data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadKeyError(
                f"payload under key {key_id!r} has {len(payload.data)} bytes, fewer than a nonce and a tag "
                f"({NONCE_BYTES + TAG_BYTES}): truncated"
            )
        try:
            plain = aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag as exc:
            raise PayloadKeyError(f"payload under key {key_id!r} does not authenticate (altered or wrong key)") from exc
        try:
            return Payload.FromString(plain)
        except DecodeError as exc:  # authentic, so someone holding our key encrypted something else with it
            raise PayloadKeyError(f"payload under key {key_id!r} decrypts to something not a payload") from exc


def codec_server(codec: EncryptionCodec, token: str, ui_origins: list[str]) -> Starlette:
    """Temporal's remote codec protocol: ``POST /encode`` and ``POST /decode`` with ``{"payloads": [...]}``
    in protobuf JSON. Only callers with the token are answered: ``Authorization: Bearer <O2C_CODEC_TOKEN>``
    (CLI, scripts, a UI behind an authenticating proxy), or the token as the path prefix
    ``/t/<token>/decode`` (the dev UI's ``--ui-codec-endpoint``, which cannot send headers of its own).
    The browser may call it from the UI's origins only (CORS). A body over ``CODEC_MAX_BODY`` is a 413,
    anything that is not a payloads document or does not decrypt a 400 with the reason."""

    def authorised(request: Request) -> bool:
        if not token:
            return False
        given = request.path_params.get("token")
        if given is not None:
            return hmac.compare_digest(str(given).encode(), token.encode())
        header = request.headers.get("authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    async def convert(request: Request, decode: bool) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            document = json.loads(await request.body())
        except (ValueError, RecursionError) as exc:
            return JSONResponse({"error": f"not JSON: {type(exc).__name__}"}, status_code=400)
        if not isinstance(document, dict):
            return JSONResponse({"error": 'a payloads document is a JSON object {"payloads": [...]}'}, status_code=400)
        try:
            payloads = json_format.ParseDict(document, Payloads())
        except json_format.ParseError as exc:
            return JSONResponse({"error": f"not a payloads document: {exc}"}, status_code=400)
        try:
            done = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except PayloadKeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        body = json_format.MessageToJson(Payloads(payloads=done))
        return Response(body, media_type="application/json")

    async def encode(request: Request) -> Response:
        return await convert(request, decode=False)

    async def decode(request: Request) -> Response:
        return await convert(request, decode=True)

    return Starlette(
        routes=[
            Route("/encode", encode, methods=["POST"]),
            Route("/decode", decode, methods=["POST"]),
            Route("/t/{token}/encode", encode, methods=["POST"]),
            Route("/t/{token}/decode", decode, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=ui_origins,
                allow_methods=["POST"],
                allow_headers=["authorization", "content-type", "x-namespace"],
                allow_credentials=True,
            ),
            Middleware(BodyLimit, max_bytes=CODEC_MAX_BODY),
        ],
    )
