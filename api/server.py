"""uvicorn's httptools protocol, with limits on the request head and JSON errors.

uvicorn answers a request it cannot parse itself, before the application sees
it, with ``400 text/plain`` "Invalid HTTP request received.", and with
httptools it sets no limit at all on the size of the request head (a 1 MB
header, or 10,000 of them, are read into memory and served). This protocol
answers every such request the way the API answers its own errors
(docs/decisions.md: every response is ``application/json``), then closes the
connection:

    400 {"error": "Bad Request"}                      the parser refuses the request
    414 {"error": "URI Too Long"}                     request target over MAX_TARGET_BYTES
    431 {"error": "Request Header Fields Too Large"}  headers over MAX_HEADER_BYTES
                                                      (names and values) or MAX_HEADERS
    408 {"error": "Request Timeout"}                  no whole request head within
                                                      API_HEAD_TIMEOUT_S of the connection
                                                      opening or the head starting

(uvicorn itself waits for ever for the first request of a connection, and for
the rest of a head once it has begun: a few clients sending slowly would hold
every file descriptor.)

Each refusal carries ``X-Content-Type-Options: nosniff``, as every answer of
the app does (``api/headers.py``), and uvicorn's default headers: the date,
and no ``Server`` (``python -m api`` turns it off).

Selected by ``python -m api`` (``uvicorn.run(http=JsonHttpProtocol)``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.headers import NOSNIFF
from api.settings import ApiSettings

MAX_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
# After refusing, the rest of what the client sends is read and dropped for at
# most this long (a "lingering close"): closing with unread bytes would reset
# the connection, and the client could lose the answer.
LINGER_S = 2.0
MESSAGES = {
    400: "Bad Request",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
}


@functools.cache
def head_timeout_s() -> float:
    """``API_HEAD_TIMEOUT_S``, read once per process (``python -m api`` checked it)."""
    return ApiSettings().head_timeout_s


# Bytes of one request head read before it is refused whatever it holds (the
# limits above are checked once the head is whole).
MAX_HEAD_BYTES = MAX_TARGET_BYTES + MAX_HEADER_BYTES + 4 * MAX_HEADERS + 1024


class Refused(Exception):
    """Raised from a parser callback to stop parsing: uvicorn then calls
    ``send_400_response``, which answers the status noted in ``_refusal``."""


class JsonHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal = 400
        self._in_head = True  # reading a request's head (or waiting for one)
        self._head_bytes = 0  # received since the head began
        self._lingering = False
        self._head_timer: asyncio.TimerHandle | None = None
        # When the head being awaited began (the connection, or its first
        # byte); None while a request is served or the connection is idle
        # between requests (uvicorn's keep-alive timeout closes it then).
        self._head_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        """One timer per connection at a time, not one per request: it checks
        when it fires, and sets itself again for what is left."""
        self._head_since = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(head_timeout_s(), self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_since is None or self._refused():
            return
        left = self._head_since + head_timeout_s() - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._head_timed_out)
        else:
            self._refusal = 408
            self.send_400_response("")

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted after parsing, so that the bytes of a request whose head
        # ended in ``data`` are not charged to the next one (pipelining).
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self._refused():
            long_target = len(getattr(self, "url", b"")) > MAX_TARGET_BYTES
            self._refusal = 414 if long_target else 431
            self.send_400_response("")

    def _refused(self) -> bool:
        return self._lingering or self.transport.is_closing()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_head()

    def on_headers_complete(self) -> None:
        # The limits are checked once the head is whole (callbacks per header
        # would cost every request); until then MAX_HEAD_BYTES bounds it.
        self._head_since = None
        self._in_head = False
        self._head_bytes = 0
        if len(self.url) > MAX_TARGET_BYTES:
            self._refusal = 414
            raise Refused
        headers = self.headers
        if (
            len(headers) > MAX_HEADERS
            or sum(len(n) + len(v) for n, v in headers) > MAX_HEADER_BYTES
        ):
            self._refusal = 431
            raise Refused
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when parsing fails (``Refused`` raised above is such a failure)."""
        status = self._refusal
        message = MESSAGES[status].encode()
        body = b'{"error":"%s"}' % message
        head = [b"HTTP/1.1 %d %s\r\n" % (status, message)]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"%s: %s\r\n" % NOSNIFF,
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.can_write_eof():
            self._lingering = True
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:  # a pipelined response still being written: uvicorn's way
            self.transport.close()
