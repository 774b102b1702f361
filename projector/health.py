"""Is a projector worker healthy? Lagging while it progresses is; stalling is not.

    idle         nothing to do: caught up (or the lag is not known yet)
    progressing  behind, but a batch was applied within the bound (a rebuild's
                 double writes, a burst of events)
    stalled      behind with no batch applied for longer than the bound, or
                 applying keeps failing (Redis down) for longer than that

``decide_state`` is the pure rule. ``WorkerHealth`` keeps what it needs as the
worker goes; ``HeartbeatWriter`` publishes it in Redis (``Control.heartbeats``,
field = worker id, value = the JSON of ``heartbeat``), where
``python -m projector status`` and the API's ``/readyz`` read it.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from projector.connections import RedisClient
from projector.keys import Control, as_text

logger = logging.getLogger(__name__)

FORGET_AFTER_MS = 10 * 60 * 1000  # heartbeats older than this are removed


class State(enum.StrEnum):
    IDLE = "idle"
    PROGRESSING = "progressing"
    STALLED = "stalled"


def decide_state(
    now: float,
    lag: int | None,
    last_progress_at: float,
    retrying_since: float | None,
    stall_after_s: float,
) -> State:
    """The worker's state at ``now`` (seconds, any one clock for every argument).

    ``last_progress_at`` is when the last batch was applied (or the worker
    started); ``retrying_since`` when applying the batch in hand first failed.
    """
    if retrying_since is not None and now - retrying_since > stall_after_s:
        return State.STALLED
    if not lag:
        return State.IDLE
    if now - last_progress_at > stall_after_s:
        return State.STALLED
    return State.PROGRESSING


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerHealth:
    """What one worker has done lately, as its pipeline and lag timer report it."""

    def __init__(
        self,
        stall_after_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.stall_after_s = stall_after_s
        self.clock = clock
        self.wall_clock_ms = wall_clock_ms
        self.lag: int | None = None
        self.events_applied = 0
        self.last_applied_ms: int | None = None
        self.newest_event_ms: int | None = None
        self._last_progress_at = clock()  # starting counts as progress
        self._retrying_since: float | None = None

    def applied(self, events: int, newest_event_ms: int | None) -> None:
        self._last_progress_at = self.clock()
        self._retrying_since = None
        self.events_applied += events
        self.last_applied_ms = self.wall_clock_ms()
        if newest_event_ms is not None:
            self.newest_event_ms = max(newest_event_ms, self.newest_event_ms or 0)

    def apply_failed(self) -> None:
        if self._retrying_since is None:
            self._retrying_since = self.clock()

    def state(self) -> State:
        return decide_state(
            self.clock(),
            self.lag,
            self._last_progress_at,
            self._retrying_since,
            self.stall_after_s,
        )

    def report(self) -> dict[str, Any]:
        """``/healthz``'s body."""
        retrying = self._retrying_since
        return {
            "state": self.state().value,
            "lag": self.lag,
            "events_applied": self.events_applied,
            "last_applied_ms": self.last_applied_ms,
            "newest_event_ms": self.newest_event_ms,
            "retrying_for_s": None if retrying is None else round(self.clock() - retrying, 3),
        }


def heartbeat(worker: str, health: WorkerHealth) -> dict[str, Any]:
    """The heartbeat document (the keys ``python -m projector status`` reads)."""
    return {
        "worker": worker,
        "at_ms": health.wall_clock_ms(),
        "last_applied_ms": health.last_applied_ms,
        "newest_event_ms": health.newest_event_ms,
        "events_applied": health.events_applied,
        "state": health.state().value,
    }


def read_beat(raw: bytes | str) -> tuple[int, str | None] | None:
    """A heartbeat's ``at_ms`` and ``state``; None when it is unreadable."""
    try:
        beat = json.loads(raw)
    except ValueError:
        return None
    at = beat.get("at_ms") if isinstance(beat, dict) else None
    if not isinstance(at, int) or isinstance(at, bool):
        return None
    state = beat.get("state")
    return at, None if state is None else str(state)


def live_workers(beats: Mapping[Any, Any], now_ms: int, max_age_ms: int) -> list[str]:
    """Workers whose latest heartbeat is recent enough and not ``stalled``."""
    live = []
    for worker, raw in beats.items():
        beat = read_beat(raw)
        if beat is not None and now_ms - beat[0] <= max_age_ms and beat[1] != State.STALLED:
            live.append(as_text(worker))
    return sorted(live)


def forgotten_workers(beats: Mapping[Any, Any], now_ms: int) -> list[Any]:
    """Fields of heartbeats too old (or too broken) to keep."""
    return [
        worker
        for worker, raw in beats.items()
        if (beat := read_beat(raw)) is None or now_ms - beat[0] > FORGET_AFTER_MS
    ]


class HeartbeatWriter:
    """Writes a worker's heartbeat; never raises, never waits past ``timeout_s``."""

    def __init__(self, prefix: str, worker: str, timeout_s: float) -> None:
        self.key = Control(prefix).heartbeats
        self.worker = worker
        self.timeout_s = timeout_s

    async def beat(self, redis: RedisClient | None, health: WorkerHealth) -> None:
        if redis is None:  # not connected yet
            return
        document = heartbeat(self.worker, health)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.hset(self.key, self.worker, json.dumps(document))
                    pipe.hgetall(self.key)
                    _, beats = await pipe.execute()
                forgotten = forgotten_workers(beats, document["at_ms"])
                if forgotten:
                    await redis.hdel(self.key, *forgotten)
        except Exception as exc:  # a heartbeat must never stop the worker
            logger.warning("cannot write the heartbeat of %s: %r", self.worker, exc)
