"""``SelfRebuild``: one rebuild at a time, none while the rebuild lock is held."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from redis.asyncio import Redis

from projector.worker.recovery import SelfRebuild
from readmodel.keys import Control


def counting(path: Path, status: int = 0) -> list[str]:
    """A stand-in rebuild command: appends a line to ``path``, exits with ``status``."""
    code = f"open({str(path)!r}, 'a').write('run\\n'); import time; time.sleep(0.3); exit({status})"
    return [sys.executable, "-c", code]


async def settle(rebuilder: SelfRebuild) -> None:
    task = rebuilder._task
    if task is not None:
        await task


async def test_triggered_many_times_it_runs_the_rebuild_once(
    redis: Redis, namespace: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    rebuilder = SelfRebuild(lambda: redis, namespace, retry_s=60, command=counting(runs))

    for _ in range(10):
        rebuilder.trigger()
        await asyncio.sleep(0.01)
    await settle(rebuilder)
    rebuilder.trigger()  # within retry_s of the last attempt: not again
    await settle(rebuilder)

    assert runs.read_text() == "run\n"
    assert rebuilder.started == 1


async def test_it_waits_while_another_rebuild_holds_the_lock(
    redis: Redis, namespace: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    await redis.set(Control(namespace).rebuild_lock, "someone else", px=5_000)
    rebuilder = SelfRebuild(lambda: redis, namespace, retry_s=0, command=counting(runs))

    rebuilder.trigger()
    await settle(rebuilder)
    assert not runs.exists() and rebuilder.started == 0

    await redis.delete(Control(namespace).rebuild_lock)
    rebuilder.trigger()  # the lock is gone: this worker rebuilds
    await settle(rebuilder)
    assert runs.read_text() == "run\n" and rebuilder.started == 1


async def test_a_failed_rebuild_is_tried_again_after_retry_s(
    redis: Redis, namespace: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    rebuilder = SelfRebuild(lambda: redis, namespace, retry_s=0.5, command=counting(runs, 1))

    rebuilder.trigger()
    await settle(rebuilder)
    await asyncio.sleep(0.6)
    rebuilder.trigger()
    await settle(rebuilder)

    assert runs.read_text() == "run\nrun\n"


async def test_stopping_the_worker_stops_the_rebuild(
    redis: Redis, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "finished"
    code = f"import time; time.sleep(30); open({str(marker)!r}, 'w')"
    rebuilder = SelfRebuild(
        lambda: redis, namespace, retry_s=60, command=[sys.executable, "-c", code]
    )

    rebuilder.trigger()
    await asyncio.sleep(0.5)
    await asyncio.wait_for(rebuilder.stop(), 10)

    assert not marker.exists()
    assert rebuilder._task is not None and rebuilder._task.done()
