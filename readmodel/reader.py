"""``RedisPageReader``: pages of the read model, straight from Redis.

The fast path is one atomic script in the organization's hash slot that checks
the token and returns the page, documents already rendered (stored compact:
they are expanded here, ``readmodel.documents``). Only a token not
issued to the path's organization takes a second round trip, to tell the two
401s apart and to notice a read model that is gone (Redis restarted empty).

The reader serves the generations of the layouts it knows
(``READABLE_LAYOUTS``, see ``readmodel.generations``), and answers
``ReadModelUnavailable`` (503) for any other. A generation's layout never
changes: it is read once per generation, never on each request's path.

``RedisHeartbeats`` tells ``/readyz`` whether a projector worker keeps the
read model fresh; never on the endpoint's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from events.times import wall_clock_ms
from readmodel.connections import RedisClient
from readmodel.documents import expand
from readmodel.errors import ReadModelUnavailable
from readmodel.generations import layout_of
from readmodel.heartbeats import live_workers
from readmodel.keys import Control, Keyspace, as_text, current_generation_key
from readmodel.resp import PipelinedConnection
from readmodel.scripts import Runner, Script

logger = logging.getLogger(__name__)

READABLE_LAYOUTS = frozenset({1, 2})
"""The layouts (``keys.LAYOUT``) this reader reads. Layout 1 may hold the
members' lists of before ``users``, which ``read_member.lua`` reads only in
layout-1 generations; taking 1 out of this set takes that reader out too
(tests/unit/readmodel/test_reader.py checks it)."""


class Denial(enum.Enum):
    UNKNOWN_TOKEN = "Unauthorized Access"
    OTHER_ORGANIZATION = "Not Authorized"


@dataclass(frozen=True, slots=True)
class Page:
    total_items: int
    meetings: bytes  # the meeting documents, joined by ","
    # The earliest end_time later than the read's now_ms among the organization's
    # meetings (None: none): until then, the answer cannot change by time alone.
    next_end_ms: int | None = None
    generation: str | None = None  # the generation it was read from


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _milliseconds(score: bytes) -> int | None:
    """A sorted-set score as read by a script ('' for none)."""
    return int(float(score)) if score else None


class RedisPageReader:
    """Pages through ``redis``, or through ``fast`` (``readmodel/resp.py``) for pages."""

    def __init__(
        self, redis: RedisClient, prefix: str, fast: PipelinedConnection | None = None
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keyspace: Keyspace | None = None
        self._layouts: dict[str, int] = {}  # generation -> its layout
        self._runner = Runner.of(fast if fast is not None else redis)
        self._read = Script("read")
        self._read_member = Script("read_member")

    async def refresh(self) -> Keyspace | None:
        """Follow the generation the projector serves; None when there is none."""
        try:
            generation = await self.redis.get(current_generation_key(self.prefix))
        except RedisError as exc:
            raise ReadModelUnavailable(str(exc)) from exc
        if generation is None:
            self.keyspace = None
        elif self.keyspace is None or self.keyspace.generation != as_text(generation):
            self.keyspace = Keyspace(self.prefix, as_text(generation))
            logger.info("serving read model generation %s", self.keyspace.generation)
        return self.keyspace

    async def follow(self, interval_s: float, stop: asyncio.Event) -> None:
        """Refresh the generation until ``stop`` is set (a background task).

        Stopped by an event, not by cancellation: on Python 3.11 redis-py's
        ``asyncio.wait_for`` can swallow a cancellation that arrives as a
        command completes, which would leave this loop running forever.
        """
        while not stop.is_set():
            try:
                await self.refresh()
            except ReadModelUnavailable as exc:
                logger.warning("cannot read the current generation: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()

    async def page(
        self,
        organization_id: int | None,
        token: str,
        series_id: int | None,
        now_ms: int,
        offset: int,
        limit: int,
        member_id: int | None = None,
        token_sha: str | None = None,
        generation: str | None = None,
    ) -> Page | Denial:
        """A page of the list, or why the token may not read it.

        With ``member_id``, the page of that member's list: the meetings of the
        organization's list the member is registered for or leads. With
        ``generation``, from that generation, unless it is found to be no longer
        served (then from the one served, as always).
        """
        sha = token_sha or token_sha256(token)
        chosen = None
        if generation is not None and (
            self.keyspace is None or self.keyspace.generation != generation
        ):
            chosen = Keyspace(self.prefix, generation)
        try:
            for _attempt in range(2):
                keyspace = chosen or self.keyspace or await self.refresh()
                chosen = None
                if keyspace is None:
                    raise ReadModelUnavailable("no read model generation is being served")
                layout = self._layouts.get(keyspace.generation) or await self._layout(keyspace)
                if layout not in READABLE_LAYOUTS:
                    raise ReadModelUnavailable(unreadable(keyspace, layout))
                if organization_id is not None:
                    keys = keyspace.org(organization_id)
                    if member_id is None:
                        view = keys.start if series_id is None else keys.series(series_id)
                        reply = await self._read.run(
                            self._runner,
                            [keys.tokens, view, keys.end, keys.doc],
                            [sha, now_ms, offset, limit],
                        )
                    else:
                        series = keys.series(series_id or 0)
                        before = keys.member_list_layout1(member_id)
                        reply = await self._read_member.run(
                            self._runner,
                            [
                                keys.tokens,
                                keys.users,
                                keys.start,
                                keys.end,
                                keys.doc,
                                series,
                                before,
                            ],
                            [
                                sha,
                                now_ms,
                                offset,
                                limit,
                                int(series_id is not None),
                                member_id,
                                int(layout == 1),
                            ],
                        )
                    if reply[0] == 1:
                        return Page(
                            int(reply[1]),
                            expand(reply[2]),
                            _milliseconds(reply[3]),
                            keyspace.generation,
                        )
                denial = await self._denial(keyspace, sha)
                if denial is not None:
                    return denial
            raise ReadModelUnavailable("the served generation keeps changing")
        except RedisError as exc:
            raise ReadModelUnavailable(str(exc)) from exc

    async def _denial(self, keyspace: Keyspace, sha: str) -> Denial | None:
        """Why the token was refused, or None when the generation has just changed."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keyspace.current)
        pipe.hgetall(keyspace.token(sha))
        generation, record = await pipe.execute()
        if generation is None:
            self.keyspace = None
            raise ReadModelUnavailable("the read model is gone (Redis lost its data?)")
        if as_text(generation) != keyspace.generation:
            self.keyspace = Keyspace(self.prefix, as_text(generation))
            return None
        if record and b"!" not in record:
            return Denial.OTHER_ORGANIZATION
        return Denial.UNKNOWN_TOKEN

    async def ready(self) -> str:
        """The generation served; raises ``ReadModelUnavailable`` otherwise."""
        keyspace = await self.refresh()
        if keyspace is None:
            raise ReadModelUnavailable("no read model generation is being served")
        layout = await self._layout(keyspace)
        if layout not in READABLE_LAYOUTS:
            raise ReadModelUnavailable(unreadable(keyspace, layout))
        return keyspace.generation

    async def _layout(self, keyspace: Keyspace) -> int:
        """The generation's layout, read once (it never changes)."""
        layout = self._layouts.get(keyspace.generation)
        if layout is None:
            try:
                layout = await layout_of(self.redis, keyspace)
            except RedisError as exc:
                raise ReadModelUnavailable(str(exc)) from exc
            if len(self._layouts) > 16:  # generations long gone
                self._layouts.clear()
            self._layouts[keyspace.generation] = layout
        return layout


def unreadable(keyspace: Keyspace, layout: int) -> str:
    readable = ", ".join(map(str, sorted(READABLE_LAYOUTS)))
    return (
        f"generation {keyspace.generation} holds read model layout {layout}; "
        f"this API reads layouts {readable}"
    )


class RedisHeartbeats:
    """Whether some projector worker that is not stalled has reported lately.

    The verdict is kept for ``cache_s``, so that probes cost at most one read
    of the heartbeats hash per second.
    """

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        max_staleness_s: float,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.key = Control(prefix).heartbeats
        self.max_staleness_ms = int(max_staleness_s * 1000)
        self.cache_s = cache_s
        self.clock = clock
        self._verdict = False
        self._until = float("-inf")

    async def fresh(self) -> bool:
        """Raises ``ReadModelUnavailable`` when Redis cannot tell."""
        if self.clock() < self._until:
            return self._verdict
        try:
            beats = await self.redis.hgetall(self.key)
        except RedisError as exc:
            raise ReadModelUnavailable(str(exc)) from exc
        now_ms = wall_clock_ms()
        self._verdict = bool(live_workers(beats, now_ms, self.max_staleness_ms))
        self._until = self.clock() + self.cache_s
        return self._verdict
