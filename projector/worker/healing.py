"""Lost writes found and applied again, by the worker itself (``docs/healing.md``).

The worker records, after each batch's writes and before acknowledging it,
the runs of offsets the batch covered in every generation it wrote
(``readmodel/positions.py``: one hash per Redis node). A node that comes back
without some writes comes back without their records too. ``Healer`` then
finds where the read model is behind what the group has acknowledged, seeks
the consumer back there, and the worker applies those records again (applying
is idempotent). It looks:

- after every batch: a record that could not join the partition's position
  (the node's position is below the batch's first offset) means records
  before the batch are missing on that node;
- every ``check`` (the worker's watch timer): a position below one this
  worker saw recorded, or below the group's committed offset (read when
  partitions are assigned and when the served generation changes).

Only the served generation is healed; a rebuild's generation is written
ahead of its replay on purpose, and the rebuild fills it.

``Cursor`` decides which offsets a batch covers: records the consumer
delivered one after another cover the offsets between them too (a log may
skip offsets: transaction markers), but not across a seek.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP
from prometheus_client import Counter

from projector.kafka.offsets import committed_offsets
from projector.kafka.records import Record
from projector.settings import ProjectorSettings
from readmodel.connections import RedisClient
from readmodel.keys import Control, as_text
from readmodel.positions import Partition, PositionBook, Run
from readmodel.writer import RedisReadModel

logger = logging.getLogger(__name__)

REAPPLIED_RANGES = Counter(
    "projector_reapplied_ranges",
    "Ranges of records applied again because Redis had lost them",
    ["topic"],
)

RESEEK_AFTER_S = 2.0
"""A seek back that has not moved the position at all in this long is made
again: a rebalance may have sought the consumer elsewhere meanwhile, or
records fetched before the seek, still being handed over, made Faust skip
the first ones read again."""


@dataclass(frozen=True, slots=True)
class Reread:
    """A seek back to ``start``; the worker had delivered up to ``before``."""

    start: int
    before: int | None


@dataclass(slots=True)
class Heal:
    """Records ``target`` to ``until - 1`` of a partition, being applied again;
    the position was last seen to move (to ``last``) at ``at``."""

    target: int
    until: int
    last: int
    at: float

    def explains(self, position: int) -> bool:
        """Whether a position below what was reached is this heal still under way."""
        if position < self.target:
            return False  # lost again, below where it went back to
        if position > self.last:
            self.last, self.at = position, time.monotonic()
            return True
        return time.monotonic() - self.at < RESEEK_AFTER_S


class Cursor:
    """Turns records, in the order the consumer delivered them, into runs.

    Per partition, the offset after the last record delivered: a record at or
    past it continues the run from there (whatever the log skipped between
    was nothing to apply). Unknown after a seek back and before the first
    record of a newly assigned partition: a run then starts at the record.
    """

    def __init__(self) -> None:
        self.next: dict[Partition, int | None] = {}
        self.rereads: dict[Partition, Reread] = {}

    def runs(self, records: Iterable[Record]) -> list[Run]:
        runs: list[Run] = []
        open_run: dict[Partition, int] = {}  # partition -> index of its run in this batch
        for record in records:
            key = (record.topic, record.partition)
            offset = record.offset
            cursor = self.next.get(key)
            reread = self.rereads.get(key)
            index = open_run.get(key)
            if (
                reread is not None
                and reread.start <= offset
                and (reread.before is None or offset < reread.before)
            ):
                del self.rereads[key]  # the records read again have come
                first = reread.start
                index = None
            elif cursor is not None and offset >= cursor:
                first = cursor
            else:
                first = offset
                index = None
            if index is not None and runs[index].next == first:
                runs[index] = Run(key[0], key[1], runs[index].first, offset + 1)
            else:
                open_run[key] = len(runs)
                runs.append(Run(key[0], key[1], first, offset + 1))
            self.next[key] = offset + 1
        return runs

    def revoked(self, partitions: Iterable[Partition]) -> None:
        for key in partitions:
            self.next.pop(key, None)
            self.rereads.pop(key, None)

    def sought(self, key: Partition, offset: int) -> None:
        self.rereads[key] = Reread(offset, self.next.get(key))
        self.next[key] = None


Seek = Callable[[Partition, int], Awaitable[None]]
Committed = Callable[[Sequence[Partition]], Awaitable[Mapping[Partition, int]]]


class Healer:
    """Records positions for the live worker, and re-applies what Redis lost."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        seek: Seek,
        assignment: Callable[[], Iterable[Partition]],
        committed: Committed,
        *,
        min_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.control = Control(prefix)
        self._seek = seek
        self._assignment = assignment
        self._committed = committed
        self.min_replicas = min_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.cursor = Cursor()
        self.serving: str | None = None
        self._books: dict[str, PositionBook] = {}
        self._seen: dict[Partition, int] = {}  # in the served generation, as recorded
        self._floor: dict[Partition, int] = {}  # committed when assigned: never behind it
        self._to_compare: set[Partition] = set()  # assigned, not compared with the group yet
        self._healing: dict[Partition, Heal] = {}

    def book(self, generation: str) -> PositionBook:
        book = self._books.get(generation)
        if book is None:
            book = self._books[generation] = PositionBook(
                self.redis,
                self.control.keyspace(generation),
                min_replicas=self.min_replicas,
                wait_timeout_ms=self.wait_timeout_ms,
            )
        return book

    # -- the pipeline's side ----------------------------------------------------

    def runs(self, records: Sequence[Record]) -> list[Run]:
        return self.cursor.runs(records)

    async def record(self, store: object, runs: Sequence[Run]) -> None:
        """After a batch's writes to ``store``: record its runs there."""
        if not runs or not isinstance(store, RedisReadModel):
            return
        generation = store.keyspace.generation
        positions = await self.book(generation).record(runs)
        if generation != self.serving:
            return  # a rebuild's generation: its replay fills the gaps
        batch_next: dict[Partition, int] = {}
        for run in runs:
            key = (run.topic, run.partition)
            batch_next[key] = max(batch_next.get(key, 0), run.next)
        for key, position in positions.items():
            self._seen[key] = max(self._seen.get(key, 0), position)
            if self._behind(key, position, batch_next[key]):
                await self._heal(key, position, batch_next[key], "a batch could not be recorded")

    # -- the worker's side --------------------------------------------------------

    def assigned(self, partitions: Iterable[Partition]) -> None:
        """Partitions just assigned: compare them with the group at the next check."""
        self._to_compare |= set(partitions)

    def revoked(self, partitions: Iterable[Partition]) -> None:
        partitions = set(partitions)
        self.cursor.revoked(partitions)
        self._to_compare -= partitions
        for key in partitions:
            self._seen.pop(key, None)
            self._floor.pop(key, None)
            self._healing.pop(key, None)

    async def check(self) -> None:
        """Seek back every assigned partition the served generation is behind on."""
        current = await self.redis.get(self.control.current)
        if current is None:
            return  # lost altogether: a rebuild brings it back (generations.py)
        assigned = sorted(set(self._assignment()))
        if as_text(current) != self.serving:
            self.serving = as_text(current)
            self._seen.clear()
            self._to_compare |= set(assigned)
        self._to_compare &= set(assigned)
        book = self.book(self.serving)
        if self._to_compare:
            compare = sorted(self._to_compare)
            committed = await self._committed(compare)
            self._to_compare -= set(compare)
            for key in compare:
                self._floor[key] = committed.get(key, 0)
            applied = await book.applied()
            if applied is None:  # a generation from before positions were recorded
                logger.info("generation %s has no positions yet: taking the group's", self.serving)
                await book.adopt({key: offset for key, offset in committed.items() if offset})
        # What was reached, taken before reading: a batch recorded meanwhile
        # raises both, and must not look like a loss.
        reached = {
            key: max(
                self._seen.get(key, 0),
                self._floor.get(key, 0),
                heal.until if (heal := self._healing.get(key)) is not None else 0,
            )
            for key in assigned
        }
        applied = await book.applied()
        if applied is None:
            return
        for key, expected in reached.items():
            position = applied.get(key, 0)
            if self._behind(key, position, expected):
                await self._heal(key, position, expected, "Redis is behind what was acknowledged")

    def _behind(self, key: Partition, position: int, expected: int) -> bool:
        """Whether to seek back: behind, and not because of a heal under way."""
        heal = self._healing.get(key)
        if position >= expected:
            if heal is not None and position >= heal.until:
                del self._healing[key]
                logger.info("%s[%d] is whole again at offset %d", key[0], key[1], position)
            return False
        return heal is None or not heal.explains(position)

    async def _heal(self, key: Partition, position: int, expected: int, why: str) -> None:
        topic, partition = key
        before = self._healing.get(key)
        again = before is not None and before.target == position
        if again:
            logger.info(
                "%s[%d] has not moved from offset %d since it was sought back there: seeking again",
                topic,
                partition,
                position,
            )
        else:
            logger.warning(
                "%s: %s[%d] is applied up to offset %d in generation %s, but %d was reached: "
                "applying records %d to %d again",
                why,
                topic,
                partition,
                position,
                self.serving,
                expected,
                position,
                expected - 1,
            )
        try:
            await self._seek(key, position)
        except Exception as exc:  # a rebalance under way: the next check tries again
            logger.warning("cannot seek %s[%d] back to %d: %r", topic, partition, position, exc)
            return
        self.cursor.sought(key, position)
        until = max(expected, before.until if before is not None else 0)
        target = before.target if again and before is not None else position
        self._healing[key] = Heal(target, until, position, time.monotonic())
        if not again:
            REAPPLIED_RANGES.labels(topic).inc()

    async def aclose(self) -> None:
        for book in self._books.values():
            await book.aclose()
        self._books.clear()


def faust_healer(app: Any, redis: RedisClient, settings: ProjectorSettings) -> Healer:
    """The worker's ``Healer``: seeks ``app``'s consumer, follows its assignment."""
    topics = set(settings.topics.names())

    async def seek(key: Partition, offset: int) -> None:
        await app.consumer.seek_wait({TP(key[0], key[1]): offset})

    def assignment() -> list[Partition]:
        return [(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in topics]

    async def committed(partitions: Sequence[Partition]) -> dict[Partition, int]:
        offsets = await committed_offsets(
            settings.kafka,
            settings.group_id,
            [TopicPartition(topic, partition) for topic, partition in partitions],
        )
        return {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}

    healer = Healer(
        redis,
        settings.key_prefix,
        seek,
        assignment,
        committed,
        min_replicas=settings.redis_min_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    for topic in topics:  # a series per topic from the start, for increase() in alerts
        REAPPLIED_RANGES.labels(topic)

    async def on_assigned(sender: Any, assigned: Iterable[Any], **kwargs: Any) -> None:
        healer.assigned((tp.topic, tp.partition) for tp in assigned if tp.topic in topics)

    async def on_revoked(sender: Any, revoked: Iterable[Any], **kwargs: Any) -> None:
        healer.revoked((tp.topic, tp.partition) for tp in revoked)

    app.on_partitions_assigned.connect(on_assigned, weak=False)
    app.on_partitions_revoked.connect(on_revoked, weak=False)
    return healer
