"""Projector workers' heartbeats in Redis: how they are written and read.

One hash (``Control.heartbeats``): field = worker id, value = a JSON object
with at least ``at_ms`` (when it was written) and ``state`` (``idle``,
``progressing`` or ``stalled``). The projector writes them
(``HeartbeatWriter``); ``python -m projector status`` and the API's
``/readyz`` read them (``live_workers``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from readmodel.connections import RedisClient
from readmodel.keys import Control, as_text

logger = logging.getLogger(__name__)

FORGET_AFTER_MS = 10 * 60 * 1000  # heartbeats older than this are removed
STALLED = "stalled"


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
        if beat is not None and now_ms - beat[0] <= max_age_ms and beat[1] != STALLED:
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

    async def beat(self, redis: RedisClient | None, document: dict[str, Any]) -> None:
        """Write ``document`` (its ``at_ms`` is now) and forget old heartbeats."""
        if redis is None:  # not connected yet
            return
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
