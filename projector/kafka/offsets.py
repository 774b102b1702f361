"""Where each partition ends, and how far a consumer group has got.

Tansu 0.6.0 answers "latest offset" (``end_offsets()``) with the base offset
of a partition's last record batch + 1, short of its true end. The true end is
the high watermark a fetch response carries, so that is what is read here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.kafka import KafkaConnection


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


async def lag(kafka: KafkaConnection, group_id: str, topics: Iterable[str]) -> int:
    """Records not yet committed by the group, over every partition of ``topics``."""
    ends = await log_end_offsets(kafka, topics)
    committed = await committed_offsets(kafka, group_id, ends)
    return sum(max(end - committed[tp], 0) for tp, end in ends.items())


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
