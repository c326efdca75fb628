"""The codec server: the Temporal UI (and other SDKs' clients, through Temporal's remote codec protocol) send
it payloads to encrypt or decrypt with ``o2c.platform.codec``, so authorised operators see customer data
that Temporal itself stores only as ciphertext."""

import hmac
import json

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

import o2c.web.health as health
from o2c.platform.codec import EncryptionCodec, PayloadKeyError
from o2c.web.body_limit import BodyLimit, MiB

# Temporal refuses payloads over 2 MB, and the UI asks for one event's payloads at a time: even a 2 MB
# payload, base64 in JSON (4/3), stays under 3 MiB. The body is held in memory to be parsed.
CODEC_MAX_BODY = 4 * MiB


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
            *health.routes(),  # liveness only: it needs nothing but its keys, loaded at start
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
