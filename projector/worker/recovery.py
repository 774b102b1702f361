"""A worker rebuilds a lost read model by itself.

When Redis comes back empty (restarted without persistence, flushed, failed
over to an empty replica), a worker whose group has consumed before finds no
generation to write (``generations.ReadModelLost``): it applies nothing, and the
API answers 503. ``SelfRebuild`` then runs the operator's own command,
``python -m projector rebuild``, as a child process (the replay gets its own
CPU, and the worker's event loop keeps its consumer alive):

- one worker at a time runs it: a worker that sees the rebuild lock held
  (another worker's rebuild, or an operator's) waits and checks again later;
  a rebuild started by two workers at once runs once (the second exits 1 on
  the lock held, or, ``--if-lost``, once it gets the lock after the swap,
  finds the read model served again and replays nothing);
- the rebuild points ``building`` at a new generation, and from then on every
  worker's live batches go there, as during an operator rebuild; the swap
  serves it and the API answers again, exactly;
- a rebuild that fails or whose worker dies is picked up again (it resumes
  where it was) once its lock has expired, by whichever worker notices first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from readmodel.connections import RedisClient
from readmodel.keys import Control

logger = logging.getLogger(__name__)

REBUILD_COMMAND = (sys.executable, "-m", "projector", "rebuild", "--if-lost")


class SelfRebuild:
    """Starts at most one rebuild at a time, and tries again at most every ``retry_s``."""

    def __init__(
        self,
        redis: Callable[[], RedisClient | None],
        prefix: str,
        retry_s: float,
        command: Sequence[str] = REBUILD_COMMAND,
    ) -> None:
        self._redis = redis
        self.lock_key = Control(prefix).rebuild_lock
        self.retry_s = retry_s
        self.command = list(command)
        self._task: asyncio.Task[None] | None = None
        self._not_before = float("-inf")
        self.started = 0  # rebuilds this worker has started

    def trigger(self) -> None:
        """The read model is lost: make sure a rebuild is on its way (never waits)."""
        if self._task is not None and not self._task.done():
            return
        if time.monotonic() < self._not_before:
            return
        self._not_before = time.monotonic() + self.retry_s
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            redis = self._redis()
            if redis is not None and await redis.exists(self.lock_key):
                logger.warning(
                    "the read model is lost; another rebuild holds the lock, waiting for it"
                )
                return
            logger.warning(
                "the read model is lost (no generation in Redis although events were "
                "consumed before): rebuilding it with `python %s`",
                " ".join(self.command[1:]),
            )
            self.started += 1
            status = await self._rebuild()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("cannot start rebuilding the lost read model; trying again later")
            return
        if status == 0:
            logger.info("the lost read model is rebuilt and served again")
        else:
            logger.warning(
                "rebuilding the lost read model exited with status %d (another worker's "
                "rebuild took the lock first, or see its output above); checking again in %.0fs",
                status,
                self.retry_s,
            )

    async def _rebuild(self) -> int:
        process = await asyncio.create_subprocess_exec(*self.command, stdin=subprocess.DEVNULL)
        try:
            return await process.wait()
        finally:
            if process.returncode is None:  # the worker is stopping: the rebuild resumes later
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
