"""The read model's own RESP client: commands packed in bulk, replies parsed by hiredis.

redis-py spends most of its time per command in layers the read model does
not need (pool locks, per-call timeouts and retries, packing and parsing one
command at a time). Two clients share this module's encoding, connection
set-up, reply parsing and errors:

- ``LeanRedis``, the projector's: a redis-py client whose
  ``pipeline(transaction=False)`` queues commands as redis-py's does but, on
  ``execute``, packs them all at once and parses the replies in bulk, on
  connections of its own to the same server. Replies are what redis-py
  returns (its response callbacks are applied). Anything else (transactions,
  TLS, decoded responses, a Unix socket) goes through redis-py unchanged.
- ``PipelinedConnection``, the API's page scripts': the commands of each
  event loop iteration go out on one connection in one system call, and the
  replies are handed out in order (Redis answers in order). Concurrent
  requests share the connection, so a round trip is paid once per loop
  iteration, not once per request.

Errors are redis-py's, so callers handle every client alike:
``ConnectionError`` (cannot connect, or the connection broke: every command in
flight fails, the next call reconnects), ``TimeoutError`` (no reply in time),
``ResponseError`` (Redis refused the command; ``NoScriptError`` for NOSCRIPT),
raised for a pipeline after every reply is read.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection, SSLConnection
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ConnectionError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from readmodel.connections import RedisEndpoint

NOT_ENOUGH = object()
"""What ``reply_parser().gets()`` returns until a whole reply has arrived (not
``False``, which is a RESP3 reply)."""
_FEED = 16 * 1024
"""Bytes handed to the hiredis reader at a time: it moves what is left of its
buffer forward each time a reply is taken, so a big feed costs a copy of
itself per reply."""
_pack_command = hiredis.pack_command

# -- encoding ------------------------------------------------------------------


def _encode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value).encode()
    raise TypeError(f"cannot send {type(value).__name__} to Redis: {value!r}")


def pack(commands: Iterable[Sequence[Any]]) -> bytes:
    """The RESP bytes of ``commands``, each a sequence of arguments.

    hiredis packs each command in C; a command it refuses (an argument that is
    not bytes, str, int or float) is packed here, which names the culprit.
    """
    out: list[bytes] = []
    append = out.append
    for command in commands:
        try:
            append(_pack_command(command if type(command) is tuple else tuple(command)))
        except TypeError:
            append(pack_one(command))
    return b"".join(out)


def pack_one(command: Sequence[Any]) -> bytes:
    """The RESP bytes of one command, packed in Python."""
    out = [b"*%d\r\n" % len(command)]
    append = out.append
    for argument in command:
        kind = type(argument)
        if kind is bytes:
            data = argument
        elif kind is str:
            data = argument.encode()
        elif kind is int:
            data = b"%d" % argument
        else:
            data = _encode(argument)
        append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def encode(*parts: str | bytes | int) -> bytes:
    """One command in RESP."""
    return pack((parts,))


# -- replies and errors ----------------------------------------------------------


def reply_parser() -> hiredis.Reader:
    """A hiredis reader whose error replies are ``ResponseError``s and which
    returns ``NOT_ENOUGH`` until a reply is whole."""
    return hiredis.Reader(replyError=ResponseError, notEnoughData=NOT_ENOUGH)


def error_of(reply: ResponseError) -> ResponseError:
    """An error reply as redis-py raises it."""
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else reply


def checked(reply: Any) -> Any:
    """The reply, or its error raised (as redis-py would)."""
    if isinstance(reply, ResponseError):
        raise error_of(reply)
    return reply


async def read_reply(reader: asyncio.StreamReader, parser: hiredis.Reader) -> Any:
    """The next reply (from ``reply_parser()``), errors as ``ResponseError``s."""
    while True:
        reply = parser.gets()
        if reply is not NOT_ENOUGH:
            return reply
        data = await reader.read(65536)
        if not data:
            raise EOFError("Redis closed the connection")
        parser.feed(data)


# -- connections -----------------------------------------------------------------


async def open_stream(
    options: Mapping[str, Any], limit: int = 1 << 16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to the server of redis-py connection ``options`` (host and
    port, or a Unix socket's path; TLS when their connection class is, with
    their ``ssl_context`` if they carry one)."""
    if "path" in options:
        return await asyncio.open_unix_connection(options["path"], limit=limit)
    if "ssl_context" in options:
        context = options["ssl_context"]
    elif options.get("connection_class") is SSLConnection:
        context = ssl.create_default_context()
    else:
        context = None
    host, port = options.get("host", "localhost"), int(options.get("port") or 6379)
    return await asyncio.open_connection(host, port, ssl=context, limit=limit)


def setup_commands(options: Mapping[str, Any], protocol: int = 2) -> list[list[Any]]:
    """The commands that authenticate, choose the protocol and select the
    database of ``options`` (redis-py connection options)."""
    password, username = options.get("password"), options.get("username")
    setup: list[list[Any]] = []
    if protocol != 2:
        auth = ["AUTH", username or "default", password] if password is not None else []
        setup.append(["HELLO", protocol, *auth])
    elif password is not None:
        setup.append(["AUTH", *([username] if username else []), password])
    if int(options.get("db") or 0):
        setup.append(["SELECT", int(options["db"])])
    return setup


async def open_connection(
    redis: RedisEndpoint | str,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]]:
    """A stream to the Redis of ``redis`` (a cluster's first node), over TLS for
    ``rediss``, and the commands (RESP) that authenticate and select."""
    # connections imports this module (LeanRedis): its endpoint is imported here.
    from readmodel.connections import redis_endpoint

    options = redis_endpoint(redis).node_options()
    reader, writer = await open_stream(options)
    return reader, writer, [pack((command,)) for command in setup_commands(options)]


class _Link:
    """One connection of ``LeanRedis``'s own: a stream pair and a hiredis reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = reply_parser()

    async def call(self, payload: bytes, count: int) -> list[Any]:
        """Send ``payload`` (``count`` commands); their replies, errors as ``ResponseError``s."""
        try:
            return await self._call(payload, count)
        except OSError as exc:  # as redis-py reports it
            raise ConnectionError(f"Error talking to Redis: {exc!r}") from exc

    async def _call(self, payload: bytes, count: int) -> list[Any]:
        self.writer.write(payload)
        await self.writer.drain()
        parser = self.parser
        replies: list[Any] = []
        append = replies.append
        while len(replies) < count:
            data = await self.reader.read(1 << 20)
            if not data:
                raise ConnectionError("Redis closed the connection")
            for begin in range(0, len(data), _FEED):
                parser.feed(data, begin, min(_FEED, len(data) - begin))
                reply = parser.gets()
                while reply is not NOT_ENOUGH:
                    append(reply)
                    reply = parser.gets()
        return replies

    def close(self) -> None:
        self.writer.close()


# -- the projector's big pipelines --------------------------------------------------


class LeanRedis(Redis):
    """A redis-py client with a lean ``pipeline(transaction=False)``."""

    _links: list[_Link]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        kwargs = self.connection_pool.connection_kwargs
        lean = (
            not transaction
            and self.connection_pool.connection_class is Connection
            and not kwargs.get("decode_responses")
        )
        if not lean:
            return super().pipeline(transaction, shard_hint)
        return LeanPipeline(self, self.connection_pool, self.response_callbacks, shard_hint)

    async def _link(self) -> _Link:
        links = self.__dict__.setdefault("_links", [])
        if links:
            link: _Link = links.pop()
            return link
        kwargs = self.connection_pool.connection_kwargs
        timeout = kwargs.get("socket_connect_timeout") or 10
        host, port = kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await open_stream(kwargs, limit=1 << 22)
        except (OSError, TimeoutError) as exc:  # as redis-py reports it
            raise ConnectionError(f"Error connecting to {host}:{port}: {exc!r}") from exc
        link = _Link(reader, writer)
        try:
            # The protocol redis-py's own connections speak (as the URL says),
            # so that replies have the same shapes.
            protocol = int(self.connection_pool.connection_class(**kwargs).protocol or 2)
            setup = setup_commands(kwargs, protocol)
            if setup:
                for reply in await link.call(pack(setup), len(setup)):
                    checked(reply)
        except BaseException:
            link.close()
            raise
        return link

    def _give_back(self, link: _Link) -> None:
        self.__dict__.setdefault("_links", []).append(link)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        for link in self.__dict__.pop("_links", []):
            link.close()
        await super().aclose(close_connection_pool)


class LeanPipeline(Pipeline):
    """Queues like redis-py's pipeline; ``execute`` packs and parses in bulk."""

    def __init__(
        self, client: LeanRedis, pool: Any, response_callbacks: Any, shard_hint: Any
    ) -> None:
        super().__init__(pool, response_callbacks, False, shard_hint)
        self._client = client

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Queue a command (as redis-py's ``pipeline_execute_command``)."""
        if self.watching or args[0] == "WATCH":
            return super().execute_command(*args, **options)
        self.command_stack.append((args, options))
        return self

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Queue ``EVALSHA`` (redis-py's, without its layers of calls)."""
        if self.watching:
            return super().evalsha(sha, numkeys, *keys_and_args)
        command: tuple[Any, ...] = ("EVALSHA", sha, numkeys, *keys_and_args)
        self.command_stack.append((command, {}))
        return self

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = list(self.command_stack)
        self.command_stack.clear()
        if not stack:
            return []
        payload = pack(args for args, _options in stack)
        link = await self._client._link()
        try:
            raw = await link.call(payload, len(stack))
        except BaseException:
            link.close()  # cut short: what is left on the wire is lost with it
            raise
        self._client._give_back(link)
        replies: list[Any] = []
        append = replies.append
        callbacks = self.response_callbacks
        plain: dict[Any, bool] = {}  # names without a response callback
        for (args, options), reply in zip(stack, raw, strict=True):
            name = args[0]
            if name not in plain:
                plain[name] = name not in callbacks  # a CaseInsensitiveDict: not .get()
            if plain[name] and not isinstance(reply, ResponseError):
                append(reply)  # as ``_finish`` would return it, only sooner
            else:
                append(await self._finish(name, reply, dict(options)))
        if raise_on_error:
            for number, ((args, _options), reply) in enumerate(zip(stack, replies, strict=True)):
                if isinstance(reply, ResponseError):
                    self.annotate_exception(reply, number + 1, args)
                    raise reply
        return replies

    async def _finish(self, name: Any, reply: Any, options: dict[str, Any]) -> Any:
        """What redis-py's ``parse_response`` makes of a reply."""
        options.pop(NEVER_DECODE, None)  # nothing is decoded here
        if isinstance(reply, ResponseError):
            return options[EMPTY_RESPONSE] if EMPTY_RESPONSE in options else error_of(reply)
        options.pop(EMPTY_RESPONSE, None)
        options.pop("keys", None)
        if name not in self.response_callbacks:  # a CaseInsensitiveDict: not .get()
            return reply
        result = self.response_callbacks[name](reply, **options)
        return await result if inspect.isawaitable(result) else result


# -- the API's page scripts ----------------------------------------------------------


class PipelinedConnection:
    """One connection to the single Redis node of ``url``, shared by every caller."""

    def __init__(self, redis: RedisEndpoint | str, timeout_s: float) -> None:
        self.url = redis
        self.timeout_s = timeout_s
        self._writer: asyncio.StreamWriter | None = None
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._reading: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._buffer: list[bytes] = []  # commands written at the end of this loop iteration
        self._batch: list[asyncio.Future[Any]] = []  # their replies

    async def call(self, *parts: str | bytes | int) -> Any:
        """One command's reply (redis-py's errors, see the module's docstring)."""
        writer = self._writer or await self._connect()
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._pending.append(reply)
        if not self._buffer:
            loop.call_soon(self._flush, writer)
        self._buffer.append(encode(*parts))
        self._batch.append(reply)
        return checked(await reply)

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        """The commands of one loop iteration, in one write (one system call).

        One timer for the whole batch, not one per command: the replies still
        missing when it fires fail with a timeout (each, if it comes, is skipped).
        """
        if self._buffer and writer is self._writer:
            writer.write(b"".join(self._buffer))
        self._buffer.clear()
        batch, self._batch = self._batch, []
        asyncio.get_running_loop().call_later(self.timeout_s, self._expire, batch)

    def _expire(self, batch: list[asyncio.Future[Any]]) -> None:
        for reply in batch:
            if not reply.done():
                reply.set_exception(
                    RedisTimeoutError(f"no reply from Redis within {self.timeout_s} s")
                )

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None:
                return self._writer
            try:
                async with asyncio.timeout(self.timeout_s):
                    reader, writer, setup = await open_connection(self.url)
                    parser = reply_parser()
                    writer.write(b"".join(setup))
                    for _ in setup:
                        checked(await read_reply(reader, parser))
            except (OSError, EOFError, ResponseError) as exc:  # OSError: timeouts too
                raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._writer = writer
            self._reading = asyncio.create_task(self._read(reader, writer, parser))
            return writer

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: hiredis.Reader
    ) -> None:
        error: Exception = ConnectionError("the connection to Redis was closed")
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not NOT_ENOUGH:
                    waiter = self._pending.popleft()
                    if not waiter.done():
                        waiter.set_result(reply)
        except (OSError, hiredis.ProtocolError) as exc:
            error = ConnectionError(f"the connection to Redis broke: {exc}")
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
