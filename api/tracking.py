"""``InvalidationTracker``: one Redis connection that tells the cache what changed.

The connection (plain RESP2 over asyncio streams, parsed by hiredis):

1. reads the served generation ``G`` (``<prefix>:{control}:current``);
2. turns on client-side caching invalidation in broadcasting mode, redirected
   to itself, for the prefixes ``<prefix>:{control}:current`` and ``<prefix>:G:{o``
   (every key of every organization of the served generation, nothing else:
   not the meetings' state, not a rebuild's new generation);
3. subscribes to ``__redis__:invalidate`` and to the extra channels asked for
   (the rate limiter's blocks).

Redis then sends the name of every key of those prefixes that any client
writes, deletes or lets expire. A key of ``{o<org>}`` drops that
organization's cache entries; ``current`` (a rebuild's swap) or a flush of the
database drops everything and the connection tracks again.

``sync()`` is the read barrier that makes a cache hit exact: it sends a PING
on this connection and waits for its reply. Redis answers commands in order,
so every invalidation of a write that completed before the request began has
been received and applied by then: a hit after ``sync()`` is as fresh as a
read of Redis. Requests that arrive while a PING is out wait for the next one,
so under load one PING serves many requests.

While the connection is down, not yet tracking, or a PING goes unanswered
for ``timeout_s``, ``sync()`` returns False at once and the cache is flushed:
requests read Redis until tracking is back (reconnection every
``reconnect_s``). ``on_lost`` hears of each loss but a swap: what the
connection heard before (the positions of ``api/consistency.py``) may be gone
from a Redis that restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import hiredis
from redis.exceptions import ResponseError

from api.cache import AnswerCache
from readmodel.connections import RedisEndpoint
from readmodel.keys import Keyspace, current_generation_key, organization_of
from readmodel.resp import encode, open_connection, read_reply, reply_parser

logger = logging.getLogger(__name__)

INVALIDATE = b"__redis__:invalidate"


class TrackingLost(Exception):
    """The tracking connection closed, failed, or must track other prefixes."""


class GenerationChanged(TrackingLost):
    """Another generation is served (a rebuild's swap): tracked again, and Redis
    lost nothing, so ``on_lost`` is not told."""


_PING = encode("PING")


class InvalidationTracker:
    def __init__(
        self,
        url: RedisEndpoint | str,
        prefix: str,
        cache: AnswerCache | None,
        timeout_s: float,
        channels: Iterable[str] = (),
        on_message: Callable[[bytes, bytes], None] | None = None,
        on_subscribed: Callable[[], Any] | None = None,
        on_generation_change: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        reconnect_s: float = 0.5,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.cache = cache
        self.timeout_s = timeout_s
        self.channels = [c.encode() for c in channels]
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.on_generation_change = on_generation_change
        self.on_lost = on_lost
        self.reconnect_s = reconnect_s
        self.current_key = current_generation_key(prefix).encode()
        self.healthy = False  # tracking and subscribed: sync() can succeed
        self.generation: str | None = None  # the generation whose keys are tracked
        self.client_id: int | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next: list[asyncio.Future[bool]] = []  # waiting for the next PING
        self._sent: list[asyncio.Future[bool]] | None = None  # the PING out, if any
        self._deadline: asyncio.TimerHandle | None = None
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set while subscribed (and tracking, with a cache)

    # -- the read barrier ---------------------------------------------------------

    async def sync(self) -> bool:
        """True once every invalidation sent before this call has been applied."""
        if not self.healthy:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        if not self._next and self._sent is None:
            loop.call_soon(self._ping)  # at the end of this iteration, for all its requests
        self._next.append(waiter)
        return await waiter

    def _ping(self) -> None:
        if self._sent is not None or not self._next or not self.healthy or self._writer is None:
            return  # a PING is out (its reply sends the next), or the waiters were released
        self._sent, self._next = self._next, []
        self._writer.write(_PING)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.timeout_s, self._unanswered)

    def _pong(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        sent, self._sent = self._sent or [], None
        for waiter in sent:
            if not waiter.done():
                waiter.set_result(self.healthy)
        if self._next and self.healthy:
            asyncio.get_running_loop().call_soon(self._ping)

    def _unanswered(self) -> None:
        logger.warning("the invalidation connection did not answer a PING in time")
        self._lost()
        if self._writer is not None:
            self._writer.close()

    def _lost(self, heard_may_be_gone: bool = True) -> None:
        """Not tracking: flush the cache, release every waiter (they read Redis),
        tell ``on_lost`` unless only the generation changed (else what was heard
        may be gone: Redis may have restarted)."""
        if self.healthy:
            logger.warning("answer cache off until invalidation tracking is back")
        self.healthy = False
        self.ready.clear()
        if self.cache is not None:
            self.cache.flush()
        if self.on_lost is not None and heard_may_be_gone:
            self.on_lost()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        waiters = (self._sent or []) + self._next
        self._sent, self._next = None, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(False)

    # -- the connection ---------------------------------------------------------

    async def run(self) -> None:
        """Keep the connection up until ``close()`` (a background task)."""
        while not self._stop.is_set():
            heard_may_be_gone = True
            try:
                await self._session()
            except (OSError, EOFError, TrackingLost, hiredis.ProtocolError, TimeoutError) as exc:
                heard_may_be_gone = not isinstance(exc, GenerationChanged)
                if not self._stop.is_set():
                    logger.info("invalidation connection: %s", exc or type(exc).__name__)
            except Exception:
                logger.exception("invalidation connection failed")
            finally:
                self._lost(heard_may_be_gone)
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.reconnect_s):
                    await self._stop.wait()

    def close(self) -> None:
        self._stop.set()
        if self._writer is not None:
            self._writer.close()

    async def _session(self) -> None:
        parser = reply_parser()
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await self._open(parser)
            self._writer = writer

            async def call(*parts: str | bytes) -> Any:
                writer.write(encode(*parts))
                reply = await self._read(reader, parser)
                if isinstance(reply, ResponseError):
                    raise TrackingLost(f"{parts[0]!r}: {reply}")
                return reply

            self.client_id = await call("CLIENT", "ID")
            channels = self.channels
            generation = None
            if self.cache is not None:
                current = await call("GET", self.current_key)
                generation = None if current is None else current.decode()
                prefixes = [b"PREFIX", self.current_key]
                if generation is not None:
                    prefixes += [b"PREFIX", Keyspace(self.prefix, generation).orgs_prefix.encode()]
                await call(
                    "CLIENT", "TRACKING", "on", "REDIRECT", str(self.client_id), "BCAST", *prefixes
                )
                channels = [INVALIDATE, *channels]
            if channels:
                writer.write(encode("SUBSCRIBE", *channels))
                for _ in channels:
                    await self._read(reader, parser)
        # Subscribed: a change of ``current`` from now on comes as an invalidation.
        # One that came between the GET and the SUBSCRIBE is caught here.
        self.generation = generation
        if self.cache is not None:
            self.cache.flush()
            writer.write(encode("PING"))
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await self._read(reader, parser)
                    if message[0] == b"pong":
                        break
                    self._handle(message)  # raises TrackingLost on a change of generation
            await self._check_generation(generation)
            self.healthy = True
            logger.info("answer cache on: tracking generation %s", generation)
        if self.on_subscribed is not None:
            await self.on_subscribed()
        self.ready.set()
        while True:
            self._handle(await self._read(reader, parser))

    async def _check_generation(self, generation: str | None) -> None:
        """Read ``current`` again on a connection of its own, after subscribing."""
        parser = reply_parser()
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await self._open(parser)
            try:
                writer.write(encode("GET", self.current_key))
                current = await self._read(reader, parser)
            finally:
                writer.close()
        if (None if current is None else current.decode()) != generation:
            raise GenerationChanged("the served generation changed while tracking started")

    async def _open(
        self, parser: hiredis.Reader
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection, authenticated and on the URL's database."""
        reader, writer, setup = await open_connection(self.url)
        writer.write(b"".join(setup))
        for _ in setup:
            reply = await read_reply(reader, parser)
            if isinstance(reply, ResponseError):
                writer.close()
                raise TrackingLost(f"Redis refused the connection: {reply}")
        return reader, writer

    @staticmethod
    async def _read(reader: asyncio.StreamReader, parser: hiredis.Reader) -> Any:
        return await read_reply(reader, parser)

    def _handle(self, message: Any) -> None:
        kind = message[0]
        if kind == b"pong":
            self._pong()
        elif kind == b"message":
            channel, payload = message[1], message[2]
            if channel == INVALIDATE:
                self._invalidate(payload)
            elif self.on_message is not None:
                self.on_message(channel, payload)

    def _invalidate(self, keys: list[bytes] | None) -> None:
        cache = self.cache
        if cache is None:
            return
        if keys is None:  # FLUSHALL / FLUSHDB
            raise TrackingLost("the database was flushed")
        for key in keys:
            if key == self.current_key:
                if self.on_generation_change is not None:
                    self.on_generation_change()
                raise GenerationChanged("the served generation changed")
            org = organization_of(key)
            if org is not None:
                cache.invalidate(org)
