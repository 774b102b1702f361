"""A thin Redis client for the hot path: RESP over one pipelined connection.

redis-py's asyncio client costs about a quarter of an uncached request (pool
lock, per-call timeouts and retries, packing). The page script needs none of
that: ``PipelinedConnection`` writes the commands of each event loop
iteration on one connection in one system call and hands out replies in
order (Redis answers in order), parsed by hiredis. Concurrent requests share
the connection, so a round trip is paid once per batch, not once per request.

Errors are redis-py's, so callers handle both clients alike:
``ConnectionError`` (cannot connect, or the connection broke: every command
in flight fails, the next call reconnects), ``TimeoutError`` (no reply within
``timeout_s``), ``ResponseError`` (Redis refused the command;
``NoScriptError`` for NOSCRIPT).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import hiredis
from redis import exceptions as rx
from redis.asyncio.connection import parse_url

from readmodel.connections import RedisEndpoint, redis_endpoint, single_node_url
from readmodel.resp import pack


def encode(*parts: str | bytes | int) -> bytes:
    """A command in RESP."""
    return pack((parts,))


async def open_connection(
    redis: RedisEndpoint | str,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]]:
    """A stream to the Redis of ``redis`` (a cluster's first node), over TLS for
    ``rediss``, and the commands that authenticate and select."""
    endpoint = redis_endpoint(redis)
    options = parse_url(single_node_url(endpoint.url))
    if "path" in options:
        reader, writer = await asyncio.open_unix_connection(options["path"])
    else:
        reader, writer = await asyncio.open_connection(
            options.get("host", "localhost"),
            options.get("port", 6379),
            ssl=endpoint.ssl_context(),
        )
    setup = []
    username, password = endpoint.credentials()
    if password is not None:
        setup.append(encode("AUTH", username, password) if username else encode("AUTH", password))
    if options.get("db"):
        setup.append(encode("SELECT", options["db"]))
    return reader, writer, setup


async def read_reply(reader: asyncio.StreamReader, parser: hiredis.Reader) -> Any:
    while True:
        reply = parser.gets()
        if reply is not False:
            return reply
        data = await reader.read(65536)
        if not data:
            raise EOFError("Redis closed the connection")
        parser.feed(data)


def checked(reply: Any) -> Any:
    if isinstance(reply, hiredis.ReplyError):
        message = str(reply)
        raise (
            rx.NoScriptError(message)
            if message.startswith("NOSCRIPT")
            else rx.ResponseError(message)
        )
    return reply


class PipelinedConnection:
    def __init__(self, redis: RedisEndpoint | str, timeout_s: float) -> None:
        self.url = redis
        self.timeout_s = timeout_s
        self._writer: asyncio.StreamWriter | None = None
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._reading: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._buffer: list[bytes] = []  # commands written at the end of this loop iteration

    async def call(self, *parts: str | bytes | int) -> Any:
        """One command's reply (redis-py's errors, see the module's docstring)."""
        writer = self._writer or await self._connect()
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(reply)
        if not self._buffer:
            asyncio.get_running_loop().call_soon(self._flush, writer)
        self._buffer.append(encode(*parts))
        try:
            async with asyncio.timeout(self.timeout_s):
                return checked(await reply)
        except TimeoutError as exc:  # the reply, if it comes, is skipped
            raise rx.TimeoutError(f"no reply from Redis within {self.timeout_s} s") from exc

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        """The commands of one loop iteration, in one write (one system call)."""
        if self._buffer and writer is self._writer:
            writer.write(b"".join(self._buffer))
        self._buffer.clear()

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None:
                return self._writer
            try:
                async with asyncio.timeout(self.timeout_s):
                    reader, writer, setup = await open_connection(self.url)
                    parser = hiredis.Reader()
                    writer.write(b"".join(setup))
                    for _ in setup:
                        checked(await read_reply(reader, parser))
            except (OSError, EOFError, rx.ResponseError) as exc:  # OSError: timeouts too
                raise rx.ConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._writer = writer
            self._reading = asyncio.create_task(self._read(reader, writer, parser))
            return writer

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: hiredis.Reader
    ) -> None:
        error: Exception = rx.ConnectionError("the connection to Redis was closed")
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    waiter = self._pending.popleft()
                    if not waiter.done():
                        waiter.set_result(reply)
        except (OSError, hiredis.ProtocolError) as exc:
            error = rx.ConnectionError(f"the connection to Redis broke: {exc}")
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            self._buffer.clear()
            while self._pending:
                waiter = self._pending.popleft()
                if not waiter.done():
                    waiter.set_exception(error)

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self._reading is not None:
            with contextlib.suppress(Exception):
                await self._reading
