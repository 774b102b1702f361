"""Reading topics from given positions up to given targets, without Faust.

Used by ``rebuild`` (into a new generation) and ``verify`` (into memory); both
then apply the records through the projector's own code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.kafka import KafkaConnection
from projector.kafka.records import Record


async def read_records(
    kafka: KafkaConnection,
    targets: Mapping[TopicPartition, int],
    positions: Mapping[TopicPartition, int],
    batch_size: int,
) -> AsyncIterator[tuple[list[Record], dict[TopicPartition, int]]]:
    """Batches of records below each target, each with the positions after it."""
    todo = {tp: target for tp, target in targets.items() if positions.get(tp, 0) < target}
    if not todo:
        return
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, positions.get(tp, 0))
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=1000, max_records=batch_size)
            records = [
                Record(
                    tp.topic,
                    tp.partition,
                    m.offset,
                    m.key,
                    m.value,
                    m.timestamp,
                    tuple((name, bytes(value)) for name, value in m.headers) if m.headers else (),
                )
                for tp, messages in fetched.items()
                for m in messages
                if m.offset < todo[tp]
            ]
            reached = {}
            for tp in list(todo):
                reached[tp] = min(await consumer.position(tp), todo[tp])
                if reached[tp] >= todo[tp]:
                    del todo[tp]
            yield records, reached
    finally:
        await consumer.stop()
