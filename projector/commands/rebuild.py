"""``python -m projector rebuild``: replay every topic into a new generation, then swap.

1. Take the rebuild lock (one rebuild at a time), renewed while it runs.
2. Point ``building`` at a new generation: from then on the live projector
   writes every batch to it too. Then fix the targets: each partition's true
   end. Whatever is past a target, the live projector writes.
3. Replay each partition from its saved position up to its target, through the
   same pipeline as the live projector, saving positions as it goes: a rebuild
   that is stopped or killed resumes where it was.
4. Swap atomically (``current`` := the new generation), let slow readers move
   over, delete the old generation.

The API serves the old generation, kept up to date, until the swap; then the
new one. ``--abort`` drops a paused rebuild and its generation. ``--if-lost``
(a worker's rebuild of a lost read model, ``projector/worker/recovery.py``)
rebuilds only if, once the lock is held, no generation is served: two workers
that notice the loss at once rebuild it once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from redis.exceptions import LockError

from events.retry import retry
from events.times import wall_clock_ms
from projector.commands.progress import Progress
from projector.commands.rebuild_lock import LockHeld, LockLost, RebuildLock
from projector.kafka.offsets import log_end_offsets
from projector.kafka.records import Record
from projector.kafka.replay import read_records
from projector.settings import ProjectorSettings
from projector.worker.pipeline import OneWriter, Pipeline, Prepared
from projector.worker.startup import prepare
from readmodel.connections import RedisClient, connect_redis
from readmodel.generations import (
    NotBuilding,
    RebuildProgress,
    begin_building,
    delete_generation,
    delete_other_generations,
    drop_building,
    layout_of,
    read_progress,
    save_progress,
    swap,
)
from readmodel.keys import LAYOUT, Control, as_text
from readmodel.positions import PositionBook, Run
from readmodel.writer import RedisReadModel

logger = logging.getLogger(__name__)

WRITES_IN_FLIGHT = 4
"""Batches a rebuild writes at once (see ``replay``). Each batch's three steps
wait on Redis in turn; with four under way Redis rarely waits for Python
(``scripts/bench projector`` measures it)."""

GC_EVERY = 50_000
"""Allocations between the replay's young-generation garbage collections.

Python's default (700) has the collector walk each batch's tens of thousands
of live records, changes and commands over and over, a large share of the
replay's CPU time (``bench/rebuild_cpu.py`` measures it). What a replay leaves
in cycles is freed as surely, just later."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "rebuild", help="replay every topic into a new generation, then swap (resumable)"
    )
    parser.add_argument(
        "--abort", action="store_true", help="drop a paused rebuild and its generation"
    )
    parser.add_argument(
        "--if-lost",
        action="store_true",
        help="only if no generation is served (a worker rebuilding a lost read model)",
    )
    parser.set_defaults(run=run)


class DeadLetterCount:
    """The live projector has dead-lettered these already: only count them."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, record: Record, reason: str) -> None:
        self.count += 1


@dataclass
class Plan:
    """A rebuild's generation and, per partition, where it is and where it stops."""

    generation: str
    started_ms: int
    targets: dict[TopicPartition, int]
    positions: dict[TopicPartition, int]

    @property
    def done(self) -> int:
        return sum(self.positions.values())

    @property
    def total(self) -> int:
        return sum(self.targets.values())

    def progress(self) -> RebuildProgress:
        """The plan as the rebuild saves it (``Control.rebuild_progress``)."""
        return RebuildProgress(
            self.generation,
            self.started_ms,
            targets={(tp.topic, tp.partition): offset for tp, offset in self.targets.items()},
            positions={(tp.topic, tp.partition): offset for tp, offset in self.positions.items()},
        )

    @classmethod
    def of(cls, progress: RebuildProgress) -> Plan:
        assert progress.generation is not None, "read_progress returns none without it"
        return cls(
            generation=progress.generation,
            started_ms=progress.started_ms or 0,
            targets={TopicPartition(*where): offset for where, offset in progress.targets.items()},
            positions={
                TopicPartition(*where): offset for where, offset in progress.positions.items()
            },
        )


async def run(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    await prepare(settings)
    redis = connect_redis(settings.redis)
    control = Control(settings.key_prefix)
    try:
        async with held(RebuildLock(redis, control.rebuild_lock, settings.rebuild_lock_ttl_s)):
            if args.abort:
                return await abort(redis, control, settings)
            if args.if_lost and await redis.exists(control.current):
                print("projector rebuild: a generation is served again: nothing to rebuild")
                return 0
            return await rebuild(redis, control, settings)
    except (LockError, NotBuilding, LockHeld, LockLost) as exc:
        print(f"projector rebuild: {exc}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def held(lock: RebuildLock) -> AsyncIterator[None]:
    """Hold the lock, renewing it, for as long as the block runs
    (``projector/commands/rebuild_lock.py``)."""
    await lock.acquire()
    if lock.took_over is not None:
        logger.warning(
            "the rebuild lock's holder (%s) stopped renewing it: taking its place",
            lock.took_over.describe(wall_clock_ms()),
        )

    async def renew() -> None:
        while True:
            await asyncio.sleep(lock.renew_every_s)
            try:
                await lock.renew()
            except LockLost:
                # The loop was too busy to renew in time (an overloaded machine):
                # the lock lapsed. Carry on only if no other rebuild took it.
                if not await lock.redis.set(lock.key, lock.holder.value(), nx=True, px=lock.ttl_ms):
                    raise
                logger.warning("the rebuild lock lapsed and was taken again")

    try:
        async with asyncio.TaskGroup() as group:
            renewing = group.create_task(renew())
            try:
                yield
            finally:
                renewing.cancel()
    except* LockLost as lost:
        raise lost.exceptions[0] from None
    await lock.release()


async def rebuild(redis: RedisClient, control: Control, settings: ProjectorSettings) -> int:
    plan = await resume(redis, control) or await begin(redis, control, settings)
    store = RedisReadModel(redis, control.keyspace(plan.generation), settings.retention)
    await store.load_scripts()
    dead_letters = DeadLetterCount()
    started = time.monotonic()
    book = PositionBook(
        redis,
        control.keyspace(plan.generation),
        min_replicas=settings.redis_min_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    try:
        pipeline = Pipeline(OneWriter(store), dead_letters)
        await replay(plan, pipeline, redis, control, settings, book)
    finally:
        await book.aclose()
    elapsed = time.monotonic() - started
    old = await swap(redis, control, plan.generation)
    print(
        f"generation {plan.generation} is served: {plan.total:,} events replayed "
        f"({dead_letters.count:,} unusable) in {elapsed:.1f}s"
    )
    if old is not None and old != plan.generation:
        await asyncio.sleep(settings.generation_grace_s)  # readers still on the old one move over
        deleted = await delete_generation(redis, control, old)
        print(f"generation {old} deleted ({deleted:,} keys)")
    stray = await delete_other_generations(redis, control, keep=plan.generation)
    if stray:
        print(f"{stray:,} keys of older generations deleted")
    return 0


async def resume(redis: RedisClient, control: Control) -> Plan | None:
    """The plan of the rebuild that was filling ``building``, unless its
    generation is of another layout (made by an older version: begun anew)."""
    progress = await read_progress(redis, control)
    if progress is None:
        return None
    plan = Plan.of(progress)
    layout = await layout_of(redis, control.keyspace(plan.generation))
    if layout != LAYOUT:
        logger.info(
            "the paused rebuild of generation %s has layout %d, not %d: rebuilding anew",
            plan.generation,
            layout,
            LAYOUT,
        )
        return None
    logger.info(
        "resuming the rebuild of generation %s at %d of %d events",
        plan.generation,
        plan.done,
        plan.total,
    )
    return plan


async def begin(redis: RedisClient, control: Control, settings: ProjectorSettings) -> Plan:
    leftover = await redis.get(control.building)
    if leftover is not None:  # a rebuild that died before it saved a plan, or of another layout
        await drop_building(redis, control, as_text(leftover), settings.generation_grace_s)
    # From here on the live projector writes to the new generation too; so
    # every record past the targets fixed below reaches it.
    generation = await begin_building(redis, control)
    targets = await log_end_offsets(settings.kafka, settings.topics.names())
    plan = Plan(generation, wall_clock_ms(), targets, dict.fromkeys(targets, 0))
    await save_progress(redis, control, plan.progress())
    logger.info("rebuilding into generation %s: %d events to replay", generation, plan.total)
    return plan


async def replay(
    plan: Plan,
    pipeline: Pipeline,
    redis: RedisClient,
    control: Control,
    settings: ProjectorSettings,
    book: PositionBook | None = None,
) -> None:
    """Apply every record from each partition's position up to its target.

    Up to ``WRITES_IN_FLIGHT`` batches are written at once while the next is
    read and prepared (decoded, projected), so that Redis runs one batch's
    scripts while Python packs another's commands or parses its replies; the
    store allows it (any order, two workers at once). Positions are saved in
    order: after a batch is written and every batch before it too, so a
    resumed rebuild never skips a record. Each batch's runs of offsets go to
    the generation's positions (``book``) once it is written. The garbage
    collector runs at the slower pace of ``GC_EVERY`` meanwhile.
    """
    progress = Progress(plan.total, done=plan.done)
    batches = read_records(
        settings.kafka, plan.targets, plan.positions, settings.rebuild_batch_size
    )

    async def write(
        prepared: Prepared,
        positions: dict[TopicPartition, int],
        runs: list[Run],
        before: asyncio.Task[None] | None,
    ) -> None:
        await pipeline.write(prepared)
        if before is not None:
            await before
        if book is not None:  # in order, as the progress: each run joins the one before
            await retry(lambda: book.record(runs), "recording the replay's positions")
        plan.positions.update(positions)
        await save_progress(redis, control, plan.progress())
        progress.advance(len(prepared.records))

    writing: deque[asyncio.Task[None]] = deque()
    reached = dict(plan.positions)
    try:
        with collecting_garbage_every(GC_EVERY):
            async for records, positions in batches:
                prepared = await prepare_in_steps(pipeline, records)
                runs = [
                    Run(tp.topic, tp.partition, reached.get(tp, 0), offset)
                    for tp, offset in positions.items()
                    if offset > reached.get(tp, 0)
                ]
                reached.update(positions)
                while len(writing) >= WRITES_IN_FLIGHT:
                    await writing.popleft()
                last = writing[-1] if writing else None
                writing.append(asyncio.create_task(write(prepared, positions, runs, last)))
            while writing:
                await writing.popleft()
    finally:
        for task in writing:
            task.cancel()
        for task in writing:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    progress.finish()


@contextlib.contextmanager
def collecting_garbage_every(allocations: int) -> Iterator[None]:
    """Collect the young generation after ``allocations`` allocations, not fewer."""
    before = gc.get_threshold()
    gc.set_threshold(max(allocations, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def prepare_in_steps(pipeline: Pipeline, records: list[Record], step: int = 1000) -> Prepared:
    """``pipeline.prepare(records)``, letting the batch being written go on between steps."""
    parts = []
    for begin in range(0, len(records), step):
        parts.append(await pipeline.prepare(records[begin : begin + step]))
        await asyncio.sleep(0)
    return Prepared(
        records,
        [change for part in parts for change in part.changes],
        [kind for part in parts for kind in part.event_types],
    )


async def abort(redis: RedisClient, control: Control, settings: ProjectorSettings) -> int:
    building = await redis.get(control.building)
    if building is None:
        print("no rebuild to abort")
        return 0
    deleted = await drop_building(redis, control, as_text(building), settings.generation_grace_s)
    print(f"rebuild of generation {as_text(building)} aborted ({deleted:,} keys deleted)")
    return 0
