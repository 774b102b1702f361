"""``AppliedPosition``: how far the served generation has applied each partition.

Kept in process, so that checking a request's ``X-Consistency-Token`` costs no
Redis round trip (docs/consistency.md):

- ``refresh`` reads the served generation and the positions hashes of every
  Redis node (``read``: ``<prefix>:current``, then
  ``readmodel.positions.PositionBook.read``) when the API starts, when the
  tracking connection comes back, when a request finds that the generation
  served has changed, and while a request waits. A read started before
  another one that has already been taken is dropped, so the generation
  never goes back to one a later read had replaced;
- ``on_message`` takes what the projector publishes after each record of a
  batch's positions (``"<generation> <node> <topic>:<partition>:<next>,..."``),
  so the position moves forward as soon as Redis holds the writes;
- ``forget`` drops it all when the tracking connection is lost, or on a Redis
  Cluster when a primary restarted or was replaced (``api/primaries.py``):
  Redis may come back without some writes (restarted, from an older
  snapshot), and their positions with them; until the next ``refresh``
  nothing counts as applied.

A partition's position is the least over the nodes, as the projector records
it: a node that lost writes lost their record too. The projector records the
next offset to apply; a token names the last record included, one less.

``covers_token`` says whether the position covers a request's token (the
header's bytes): clients send the same few tokens again and again (the last
answer's, echoed), so the position each names is kept once parsed, and the
tokens the position covers are kept until it moves (``known_covered``: a set
lookup, no parsing). ``reach`` waits until the position covers a token, woken
by every change, and ``refresh``es at most every ``refresh_s`` while anyone
waits, in case a message was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

from events.consistency import Partition, Position, format_token, parse_token

logger = logging.getLogger(__name__)

NodePositions = Mapping[Partition, int]
"""One node's positions: partition -> the next offset to apply there."""

Positions = tuple[str | None, Mapping[str, NodePositions | None]]
"""The generation served (None: none) and each node's positions in it, by node tag."""

# Tokens kept (as parsed; as covered), and the longest kept: a client sends the
# last token it got again, and every client of a quiet read model the same one.
_TOKENS_KEPT = 1024
_TOKEN_KEPT_BYTES = 2048


class AppliedPosition:
    def __init__(
        self,
        topics: Collection[str],
        read: Callable[[], Awaitable[Positions]] | None = None,
        refresh_s: float = 0.25,
    ) -> None:
        self.topics = frozenset(topics)
        self.read = read
        self.refresh_s = refresh_s
        self.generation: str | None = None
        self.position = Position({})
        self.token = b""  # the header value of ``position``
        self._nodes: dict[str, dict[Partition, int]] = {}
        self._parsed: dict[bytes, Position] = {}  # token -> the position it names
        self._covered: set[bytes] = set()  # tokens ``position`` covers; emptied when it moves
        self._changed = asyncio.Event()
        self._last_refresh = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._reads_started = 0
        self._read_taken = 0  # the number of the last read taken (or forgotten)

    # -- what Redis says ----------------------------------------------------------

    def reset(self, generation: str | None, nodes: Mapping[str, NodePositions | None]) -> None:
        """The served generation's positions as read from every node."""
        self.generation = generation
        self._nodes = {tag: dict(positions or {}) for tag, positions in nodes.items()}
        self._recompute()

    async def refresh(self) -> None:
        """Read the served generation and its positions again (``read``).

        Raises what ``read`` raises. Taken only if no read started later has
        been taken meanwhile: what Redis says moves on, never back.
        """
        if self.read is None:
            return
        self._reads_started += 1
        number = self._reads_started
        generation, nodes = await self.read()
        if number > self._read_taken:
            self._read_taken = number
            self.reset(generation, nodes)

    def forget(self) -> None:
        """Nothing counts as applied until the next ``refresh`` (tracking was lost:
        Redis may come back without some writes, and without their positions)."""
        self._read_taken = self._reads_started  # reads under way may predate the loss
        self.reset(None, {})

    def on_message(self, message: bytes) -> None:
        """A record of positions on one node, as the projector publishes it."""
        try:
            generation, tag, entries = message.decode().split(" ", 2)
        except (UnicodeDecodeError, ValueError):
            logger.warning("ignored a malformed positions message: %r", message[:200])
            return
        if generation != self.generation:
            return  # a rebuild's generation, or one no longer served
        node = self._nodes.get(tag)
        if node is None:
            self.refresh_soon()  # a node not read yet: the cluster changed
            return
        moved = False
        for entry in entries.split(","):
            head, _, next_text = entry.rpartition(":")
            topic, _, partition_text = head.rpartition(":")
            if not topic or not partition_text.isdigit() or not next_text.isdigit():
                continue
            key, next_offset = (topic, int(partition_text)), int(next_text)
            if next_offset > node.get(key, 0):
                node[key] = next_offset
                moved = True
        if moved:
            self._recompute()

    def _recompute(self) -> None:
        nodes = list(self._nodes.values())
        partitions = {p for node in nodes for p in node if p[0] in self.topics}
        offsets = {}
        for partition in partitions:
            next_offset = min(node.get(partition, 0) for node in nodes)
            if next_offset > 0:
                offsets[partition] = next_offset - 1
        self.position = Position(offsets)
        self.token = format_token(self.position).encode()
        self._covered.clear()  # the generation changed, or the position moved
        self._changed.set()
        self._changed = asyncio.Event()

    # -- waiting ------------------------------------------------------------------

    def covers(self, wanted: Position) -> bool:
        return self.position.covers(wanted)

    def parse(self, token: bytes) -> Position:
        """The position a request's token names (``parse_token`` with the served
        topics); ``InvalidToken`` if it is malformed."""
        wanted = self._parsed.get(token)
        if wanted is None:
            wanted = parse_token(token.decode("latin-1"), self.topics)
            if len(token) <= _TOKEN_KEPT_BYTES:
                if len(self._parsed) >= _TOKENS_KEPT:
                    self._parsed.clear()
                self._parsed[token] = wanted
        return wanted

    def known_covered(self, token: bytes) -> bool:
        """Whether ``covers_token`` said so since the position last moved (or the
        generation changed): it still covers the token. Never raises."""
        return token in self._covered

    def covers_token(self, token: bytes) -> bool:
        """Whether the position applied covers the one a request's token names;
        ``InvalidToken`` if it is malformed."""
        if token in self._covered:
            return True
        if not self.position.covers(self.parse(token)):
            return False
        if len(token) <= _TOKEN_KEPT_BYTES:
            if len(self._covered) >= _TOKENS_KEPT:
                self._covered.clear()
            self._covered.add(token)
        return True

    async def reach(self, wanted: Position, timeout_s: float) -> bool:
        """True once the position covers ``wanted``; False after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.position.covers(wanted):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.refresh_soon()
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(left, self.refresh_s))
        return True

    def refresh_soon(self) -> None:
        """``refresh`` in the background, unless one runs or ran within ``refresh_s``."""
        if self.read is None or self._refreshing is not None:
            return
        if time.monotonic() - self._last_refresh < self.refresh_s:
            return
        self._last_refresh = time.monotonic()
        self._refreshing = asyncio.create_task(self._run_refresh())

    async def aclose(self) -> None:
        """Let a ``refresh`` under way in the background end (the API is stopping)."""
        refreshing = self._refreshing
        if refreshing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing

    async def _run_refresh(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the next wait asks again
            logger.warning("cannot read the read model's positions: %r", exc)
        finally:
            self._refreshing = None
