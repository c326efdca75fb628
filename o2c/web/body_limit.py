"""A cap on request bodies for the HTTP edges (webhook, codec server): 413 before the body is read whole.

Neither Starlette nor uvicorn caps a body, and the edges read theirs into memory (to verify a signature, to
parse payloads), so without a cap one request can take the process's memory. A declared ``Content-Length``
over the cap is refused before anything is read; a chunked body (no length) is counted as it arrives and
refused at the first chunk that crosses the cap.
"""

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024


class _TooLarge(Exception):
    """Raised out of ``receive`` into the app, so the app stops reading; never seen outside this module."""


class BodyLimit:
    """ASGI middleware; put it inside CORS so a browser can read the 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        responded = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def noting_send(message: Message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        except _TooLarge:
            if responded:  # too late for a 413: the app streams its answer while reading
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"error": f"request body larger than {self.max_bytes} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
