"""Where each partition ends, how far a consumer group has got, and its lag.

Tansu 0.6.0 answers "latest offset" (``end_offsets()``) with the base offset
of a partition's last record batch + 1, short of its true end. The true end is
the high watermark a fetch response carries, so that is what is read here.

The lag is computed here and only here (``read_lag``): the worker's gauges,
``python -m projector status`` and the tests all read it. A partition's lag is
its end minus the group's committed offset, in records; in seconds, it is the
age of the oldest record not yet committed (the one at the committed offset),
0 when there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.kafka import KafkaConnection


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int
    oldest_pending_ms: int | None = None  # the Kafka timestamp of the record at ``committed``

    @property
    def lag(self) -> int:
        """Records not yet committed."""
        return max(self.end - self.committed, 0)

    def lag_seconds(self, now_ms: int) -> float | None:
        """How long the oldest record not yet committed has waited (None: not read)."""
        if not self.lag:
            return 0.0
        if self.oldest_pending_ms is None:
            return None
        return max(now_ms - self.oldest_pending_ms, 0) / 1000


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    await consumer.topics()  # refreshes the cluster metadata
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


async def log_end_offsets(
    kafka: KafkaConnection, topics: Iterable[str], timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """Each partition's true end offset (its high watermark)."""
    consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topics)
        if not partitions:
            return {}
        consumer.assign(partitions)
        # Seeking to the (possibly short) latest offset keeps the fetch small;
        # whatever it returns, the response carries the high watermark.
        await consumer.seek_to_end(*partitions)
        ends: dict[TopicPartition, int] = {}
        async with asyncio.timeout(timeout_s):
            while len(ends) < len(partitions):
                await consumer.getmany(*partitions, timeout_ms=100, max_records=10_000)
                for tp in partitions:
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        ends[tp] = highwater
        return ends
    finally:
        await consumer.stop()


async def committed_offsets(
    kafka: KafkaConnection, group_id: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (0 where it has none).

    Read with a consumer that never joins the group (Tansu 0.6.0 answers the
    admin client's OffsetFetch in a form aiokafka cannot decode).
    """
    consumer = AIOKafkaConsumer(
        **kafka.client_options(), group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) or 0 for tp in partitions}
    finally:
        await consumer.stop()


async def record_timestamps(
    kafka: KafkaConnection, positions: Mapping[TopicPartition, int], timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """The Kafka timestamp of the record at each position (or the first one after it,
    or the partition's first, if the position is gone); those read within ``timeout_s``."""
    if not positions:
        return {}
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    stamps: dict[TopicPartition, int] = {}
    try:
        consumer.assign(list(positions))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(stamps) < len(positions):
                    waiting = [tp for tp in positions if tp not in stamps]
                    fetched = await consumer.getmany(*waiting, timeout_ms=100, max_records=100)
                    for tp, records in fetched.items():
                        if records and tp not in stamps:
                            stamps[tp] = records[0].timestamp
                            consumer.pause(tp)
        return stamps
    finally:
        await consumer.stop()


async def read_lag(
    kafka: KafkaConnection,
    group_id: str,
    topics: Iterable[str],
    only: Collection[tuple[str, int]] | None = None,
    with_ages: bool = False,
    timeout_s: float = 10.0,
) -> list[PartitionLag]:
    """The group's lag on each partition of ``topics`` (or of those of them in
    ``only``), in ``topics``' order then by partition; ``with_ages`` also reads the
    timestamp of the oldest record pending on each partition behind."""
    topics = list(topics)
    ends = await log_end_offsets(kafka, topics, timeout_s)
    if only is not None:
        ends = {tp: end for tp, end in ends.items() if (tp.topic, tp.partition) in only}
    committed = await committed_offsets(kafka, group_id, ends)
    behind = {tp: committed[tp] for tp, end in ends.items() if end > committed[tp]}
    stamps = await record_timestamps(kafka, behind, timeout_s) if with_ages else {}
    order = {topic: i for i, topic in enumerate(topics)}
    return [
        PartitionLag(tp.topic, tp.partition, committed[tp], end, stamps.get(tp))
        for tp, end in sorted(
            ends.items(), key=lambda item: (order[item[0].topic], item[0].partition)
        )
    ]


async def lag(kafka: KafkaConnection, group_id: str, topics: Iterable[str]) -> int:
    """Records not yet committed by the group, over every partition of ``topics``."""
    return sum(p.lag for p in await read_lag(kafka, group_id, topics))


async def group_has_committed(kafka: KafkaConnection, group_id: str, topics: Iterable[str]) -> bool:
    """Whether the group has committed an offset on any partition of ``topics``."""
    consumer = AIOKafkaConsumer(
        **kafka.client_options(), group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        for tp in await partitions_of(consumer, topics):
            if await consumer.committed(tp):
                return True
        return False
    finally:
        await consumer.stop()
