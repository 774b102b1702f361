"""A leaner path for the projector's big non-transactional pipelines.

Applying a batch queues tens of thousands of ``EVALSHA`` commands; redis-py
spends about 80% of the projector's own CPU time packing them one by one and
reading the replies one by one (``bench/projector.py``, docs). ``LeanRedis``
is a redis-py client whose ``pipeline(transaction=False)`` queues commands the
same way but, on ``execute``, packs them all at once into RESP and parses the
replies in bulk with hiredis, on connections of its own to the same server.
Replies are what redis-py returns (its response callbacks are applied) and an
error reply raises as redis-py would (``NoScriptError`` for ``NOSCRIPT``,
after every reply is read). Anything else (transactions, TLS, decoded
responses, a Unix socket) goes through redis-py unchanged; the connections
speak the protocol redis-py's would (RESP3 by default), so replies have the
same shapes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

_NOT_ENOUGH = object()
_FEED = 16 * 1024
"""Bytes handed to the hiredis reader at a time: it moves what is left of its
buffer forward each time a reply is taken, so a big feed costs a copy of
itself per reply."""
_pack_command = hiredis.pack_command


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


def _error(reply: ResponseError) -> ResponseError:
    """An error reply as redis-py raises it."""
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else reply


class _Link:
    """One connection of our own: a stream pair and a hiredis reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = hiredis.Reader(replyError=ResponseError, notEnoughData=_NOT_ENOUGH)

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
                while reply is not _NOT_ENOUGH:
                    append(reply)
                    reply = parser.gets()
        return replies

    def close(self) -> None:
        self.writer.close()


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
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        except (OSError, TimeoutError) as exc:  # as redis-py reports it
            raise ConnectionError(f"Error connecting to {host}:{port}: {exc!r}") from exc
        link = _Link(reader, writer)
        try:
            # The protocol redis-py's own connections speak (RESP3 unless the
            # URL says protocol=2), so that replies have the same shapes.
            protocol = int(self.connection_pool.connection_class(**kwargs).protocol or 2)
            password, username = kwargs.get("password"), kwargs.get("username")
            setup: list[list[Any]] = []
            if protocol != 2:
                auth = ["AUTH", username or "default", password] if password is not None else []
                setup.append(["HELLO", protocol, *auth])
            elif password is not None:
                setup.append(["AUTH", *([username] if username else []), password])
            if int(kwargs.get("db") or 0):
                setup.append(["SELECT", int(kwargs["db"])])
            if setup:
                for reply in await link.call(pack(setup), len(setup)):
                    if isinstance(reply, ResponseError):
                        raise _error(reply)
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
            return options[EMPTY_RESPONSE] if EMPTY_RESPONSE in options else _error(reply)
        options.pop(EMPTY_RESPONSE, None)
        options.pop("keys", None)
        if name not in self.response_callbacks:  # a CaseInsensitiveDict: not .get()
            return reply
        result = self.response_callbacks[name](reply, **options)
        return await result if inspect.isawaitable(result) else result
