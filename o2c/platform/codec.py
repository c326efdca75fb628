"""Customer data encrypted in Temporal: an AES-256-GCM payload codec for clients and workers (the codec
server the Temporal UI calls is ``o2c.web.codec_server``).

Every payload (workflow inputs and results, activity arguments and results, signals, updates, queries,
summaries) is encrypted by the client and worker before it leaves the process; Temporal stores only
ciphertext. The key id travels in the payload's metadata, so keys rotate: ``O2C_PAYLOAD_KEYS`` lists
``id:base64key`` pairs, the first encrypts, all of them decrypt. The key id is also the AEAD's associated
data, so a payload cannot be relabelled to another key. Payloads without our encoding (histories recorded
before encryption was turned on) pass through unchanged.
"""

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16


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
