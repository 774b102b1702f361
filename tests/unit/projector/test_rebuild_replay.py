"""The rebuild's replay loop: batches written at once, positions saved in order."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition

from projector.commands import rebuild
from projector.commands.rebuild import DeadLetterCount, Plan
from projector.kafka.records import Record
from projector.settings import ProjectorSettings
from projector.worker.pipeline import OneWriter, Pipeline
from readmodel.changes import Change
from readmodel.keys import Control

TP = TopicPartition("t", 0)
BATCHES = 4


class GatedStore:
    """Holds the first batch's write until the second batch's write has begun."""

    def __init__(self) -> None:
        self.begun: list[int] = []
        self.done: list[int] = []
        self.gc_thresholds: list[int] = []
        self.second_begun = asyncio.Event()

    async def apply(self, changes: Sequence[Change]) -> None:
        number = len(self.begun)
        self.gc_thresholds.append(gc.get_threshold()[0])
        self.begun.append(number)
        if number == 1:
            self.second_begun.set()
        if number == 0:
            await self.second_begun.wait()
            await asyncio.sleep(0.01)  # the second one finishes first
        self.done.append(number)


class ProgressRedis:
    """Records the positions a rebuild saves, and what was applied by then."""

    def __init__(self, store: GatedStore) -> None:
        self.store = store
        self.saved: list[tuple[int, list[int]]] = []

    async def hset(self, name: str, mapping: Mapping[str, Any]) -> None:
        self.saved.append((int(mapping[f"position:{TP.topic}:{TP.partition}"]), [*self.store.done]))


async def batches_of(
    bootstrap: str, targets: Any, positions: Any, batch_size: int
) -> AsyncIterator[tuple[list[Record], dict[TopicPartition, int]]]:
    for number in range(BATCHES):
        yield [Record(TP.topic, 0, number, None, None)], {TP: number + 1}


async def test_two_batches_are_written_at_once_and_positions_saved_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild, "read_records", batches_of)
    store = GatedStore()
    redis = ProgressRedis(store)
    plan = Plan("1", 0, {TP: BATCHES}, {TP: 0})
    pipeline = Pipeline(OneWriter(store), DeadLetterCount())

    async with asyncio.timeout(10):  # one write at a time would wait forever
        await rebuild.replay(plan, pipeline, redis, Control("x"), ProjectorSettings())  # type: ignore[arg-type]

    assert store.done.index(1) < store.done.index(0)  # the second was written while the first was
    # Each position is saved only once its batch and every one before it are applied.
    assert [position for position, _ in redis.saved] == [1, 2, 3, 4]
    for position, applied in redis.saved:
        assert set(range(position)) <= set(applied)
    assert plan.positions == {TP: BATCHES}


async def test_the_garbage_collector_runs_at_a_slower_pace_while_replaying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild, "read_records", batches_of)
    store = GatedStore()
    plan = Plan("1", 0, {TP: BATCHES}, {TP: 0})
    before = gc.get_threshold()

    async with asyncio.timeout(10):
        await rebuild.replay(  # type: ignore[arg-type]
            plan,
            Pipeline(OneWriter(store), DeadLetterCount()),
            ProgressRedis(store),
            Control("x"),
            ProjectorSettings(),
        )

    assert store.gc_thresholds == [rebuild.GC_EVERY] * BATCHES
    assert gc.get_threshold() == before  # as it was, after
