"""Is a projector worker healthy? Lagging while it progresses is; stalling is not.

    idle         nothing to do: caught up (or the lag is not known yet)
    progressing  behind, but a batch was applied within the bound (a rebuild's
                 double writes, a burst of events)
    stalled      behind with no batch applied for longer than the bound, or
                 applying keeps failing (Redis down) for longer than that

``decide_state`` is the pure rule. ``WorkerHealth`` keeps what it needs as the
worker goes; ``readmodel.heartbeats.HeartbeatWriter`` publishes ``heartbeat``
in Redis, where ``python -m projector status`` and the API's ``/readyz`` read it.
"""

from __future__ import annotations

import enum
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from events.times import wall_clock_ms
from readmodel import heartbeats


class State(enum.StrEnum):
    IDLE = "idle"
    PROGRESSING = "progressing"
    STALLED = heartbeats.STALLED


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
        wall_clock_ms: Callable[[], int] = wall_clock_ms,
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
