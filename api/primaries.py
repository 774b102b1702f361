"""``PrimaryWatcher``: hears of a Redis Cluster primary that restarted or was replaced.

The positions the API keeps (``api/consistency.py``) count what each primary
has recorded. A primary that restarts (empty, or from an older snapshot), or a
replica promoted before it had the last writes, comes back without some writes
and without their record. The tracking connection (``api/tracking.py``) is to
one node and hears of that node's loss only; this watcher, of every primary's.

Every ``interval_s`` it asks a node for the primaries (``CLUSTER SLOTS``) and
each primary for its ``run_id`` (``INFO server``, new at every restart), on one
plain connection per node kept open in between; a connection that ends is
noticed at once. A change of either, or a primary out of reach, calls
``on_lost`` (what was heard may be gone); ``on_back`` follows once every
primary answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
from redis.exceptions import ResponseError

from readmodel.connections import RedisEndpoint, parse_cluster_url, redis_endpoint
from readmodel.resp import encode, open_stream, read_reply, reply_parser, setup_commands

logger = logging.getLogger(__name__)

Address = tuple[str, int]

Primaries = dict[Address, bytes]
"""Each primary's address and ``run_id``."""


class WatchFailed(Exception):
    """A node refused a command, or the primaries could not all be asked."""


class _Link:
    """A plain connection to one node."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = reply_parser()

    async def call(self, *parts: str) -> Any:
        self.writer.write(encode(*parts))
        reply = await read_reply(self.reader, self.parser)
        if isinstance(reply, ResponseError):
            raise WatchFailed(f"{parts[0]!r}: {reply}")
        return reply


class PrimaryWatcher:
    def __init__(
        self,
        url: RedisEndpoint | str,
        on_lost: Callable[[], None],
        on_back: Callable[[], Awaitable[None]],
        timeout_s: float,
        interval_s: float = 0.5,
    ) -> None:
        self.endpoint = redis_endpoint(url)
        self.on_lost = on_lost
        self.on_back = on_back
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.primaries: Primaries | None = None  # as last seen, every one answering
        self._seeds = list(parse_cluster_url(self.endpoint.url).nodes)
        self._links: dict[Address, _Link] = {}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Watch until ``close()`` (a background task)."""
        try:
            while not self._stop.is_set():
                seen = await self._look()
                if seen != self.primaries:
                    if self.primaries is not None:
                        logger.warning("a Redis primary restarted, changed or is out of reach")
                        self.on_lost()
                    self.primaries = seen
                    if seen is not None:
                        await self.on_back()
                await self._idle()
        finally:
            for address in list(self._links):
                self._drop(address)

    def close(self) -> None:
        self._stop.set()

    async def _look(self) -> Primaries | None:
        """The primaries and their run_ids; None if one cannot be asked."""
        try:
            addresses = await self._addresses()
            seen = {}
            for address in addresses:
                info = await self._call(address, "INFO", "server")
                seen[address] = _run_id(info)
            return seen
        except (OSError, EOFError, TimeoutError, hiredis.ProtocolError, WatchFailed) as exc:
            logger.info("cannot ask the Redis primaries: %s", exc or type(exc).__name__)
        except Exception:
            logger.exception("cannot ask the Redis primaries")
        return None

    async def _addresses(self) -> list[Address]:
        """The primaries, as the first node that answers sees them."""
        for seed in [*self._links, *self._seeds]:
            try:
                slots = await self._call(seed, "CLUSTER", "SLOTS")
            except (OSError, EOFError, TimeoutError, hiredis.ProtocolError, WatchFailed):
                continue
            # [first slot, last slot, [host, port, id, ...], replicas...]
            return sorted({(entry[2][0].decode() or seed[0], int(entry[2][1])) for entry in slots})
        raise WatchFailed("no Redis node answered CLUSTER SLOTS")

    async def _call(self, address: Address, *parts: str) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s):
                link = self._links.get(address)
                if link is None:
                    link = self._links[address] = await self._open(address)
                return await link.call(*parts)
        except BaseException:
            self._drop(address)
            raise

    async def _open(self, address: Address) -> _Link:
        """A connection to the node at ``address``, authenticated as every other."""
        options = {**self.endpoint.node_options(), "host": address[0], "port": address[1]}
        reader, writer = await open_stream(options)
        link = _Link(reader, writer)
        try:
            for command in setup_commands(options):
                await link.call(*command)
        except BaseException:
            writer.close()
            raise
        return link

    def _drop(self, address: Address) -> None:
        link = self._links.pop(address, None)
        if link is not None:
            link.writer.close()

    async def _idle(self) -> None:
        """``interval_s``, less if a connection ends (none should say anything) or
        the watcher is closed."""
        reads = {
            asyncio.ensure_future(link.reader.read(1)): address
            for address, link in self._links.items()
        }
        stop = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait(
            [*reads, stop], timeout=self.interval_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in [*reads, stop]:
            task.cancel()
        for task in reads:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
            if task in done:  # ended, or said something unasked: start again
                self._drop(reads[task])


def _run_id(info: bytes) -> bytes:
    for line in info.splitlines():
        if line.startswith(b"run_id:"):
            return line.removeprefix(b"run_id:").strip()
    raise WatchFailed("INFO server without a run_id")
