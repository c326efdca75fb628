"""A small fault-injecting HTTP proxy for tests: it sits in front of localstripe or the SendGrid sink and,
request by request, passes, answers 500 or 429 itself, drops the connection, or forwards the request and
then loses or delays the answer (the request took effect; the caller cannot know).

It runs its own event loop on a thread, so synchronous clients (Stripe's and SendGrid's SDKs inside
activities) can call through it from the test's thread.
"""

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support import free_port

PASS = "pass"
RESET_BEFORE = "reset_before"  # connection dropped; the upstream never saw the request
RESET_AFTER = "reset_after"  # forwarded, then the connection dropped without an answer
ERROR_500_BEFORE = "500_before"  # answered 500 without forwarding
ERROR_500_AFTER = "500_after"  # forwarded, then answered 500 instead of the real answer
TOO_MANY = "429"  # answered 429 with Retry-After without forwarding
SLOW_AFTER = "slow_after"  # forwarded, then the answer held back longer than the client waits
FAULTS = (RESET_BEFORE, RESET_AFTER, ERROR_500_BEFORE, ERROR_500_AFTER, TOO_MANY, SLOW_AFTER)


@dataclass
class Seen:
    method: str
    path: str
    fault: str


@dataclass
class FaultProxy:
    upstream_port: int
    script: list[str]
    applies: Callable[[str, str], bool] = lambda method, path: True
    slow_seconds: float = 3.0
    retry_after: int = 1
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> "FaultProxy":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(timeout=5)
        return self

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def faults_injected(self) -> int:
        return sum(1 for s in self.seen if s.fault != PASS)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, path, raw = request
                fault = self.script.pop(0) if self.script and self.applies(method, path) else PASS
                self.seen.append(Seen(method, path, fault))
                if fault == RESET_BEFORE:
                    return _reset(writer)
                if fault == ERROR_500_BEFORE:
                    writer.write(_response(500, b'{"error": {"message": "injected", "type": "api_error"}}'))
                    await writer.drain()
                    continue
                if fault == TOO_MANY:
                    writer.write(_response(429, b'{"errors": [{"message": "too many requests"}]}', self.retry_after))
                    await writer.drain()
                    continue
                answer = await self._forward(raw)
                if fault == RESET_AFTER:
                    return _reset(writer)
                if fault == ERROR_500_AFTER:
                    answer = _response(500, b'{"error": {"message": "injected", "type": "api_error"}}')
                if fault == SLOW_AFTER:
                    await asyncio.sleep(self.slow_seconds)
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    async def _forward(self, raw: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await reader.readexactly(length) if length is not None else await reader.read()
        finally:
            writer.close()
        return _with_header(head, b"Content-Length", str(len(body)).encode()) + body


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    body = await reader.readexactly(_content_length(head) or 0)
    method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
    # One request per upstream connection: ask the upstream to close after answering.
    return method, path, _with_header(head, b"Connection", b"close") + body


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def _with_header(head: bytes, name: bytes, value: bytes) -> bytes:
    lines = [line for line in head.rstrip(b"\r\n").split(b"\r\n") if line.split(b":", 1)[0].lower() != name.lower()]
    lines.insert(1, name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _response(status: int, body: bytes, retry_after: int | None = None) -> bytes:
    reason = {429: "Too Many Requests", 500: "Internal Server Error"}[status]
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        import socket
        import struct

        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    transport.abort()
