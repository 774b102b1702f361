"""End offsets must be the true end of each partition, even on Tansu."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events.kafka import KafkaConnection
from projector.kafka.offsets import PartitionLag, committed_offsets, lag, log_end_offsets, read_lag
from projector.kafka.topics import ensure_topics


async def publish_batches(
    bootstrap: str, topic: str, partition: int, batches: int, size: int
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for b in range(batches):
            batch = producer.create_batch()
            for i in range(size):
                batch.append(key=None, value=b"%d-%d" % (b, i), timestamp=None)
            await producer.send_batch(batch, topic, partition=partition)
    finally:
        await producer.stop()


async def test_end_offsets_reach_the_last_record_of_batched_partitions(
    kafka_bootstrap_servers: str, namespace: str
) -> None:
    topic = f"{namespace}.offsets"
    await ensure_topics(
        KafkaConnection(kafka_bootstrap_servers), [topic], partitions=3, replication_factor=1
    )
    await publish_batches(kafka_bootstrap_servers, topic, partition=0, batches=10, size=5)
    await publish_batches(kafka_bootstrap_servers, topic, partition=1, batches=1, size=1)

    ends = await log_end_offsets(KafkaConnection(kafka_bootstrap_servers), [topic])

    assert ends == {
        TopicPartition(topic, 0): 50,
        TopicPartition(topic, 1): 1,
        TopicPartition(topic, 2): 0,
    }


async def test_lag_counts_every_record_not_committed(
    kafka_bootstrap_servers: str, namespace: str
) -> None:
    topic = f"{namespace}.lag"
    await ensure_topics(
        KafkaConnection(kafka_bootstrap_servers), [topic], partitions=1, replication_factor=1
    )
    await publish_batches(kafka_bootstrap_servers, topic, partition=0, batches=4, size=10)
    group = f"{namespace}-group"
    assert await lag(KafkaConnection(kafka_bootstrap_servers), group, [topic]) == 40

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 25:
            batches = await consumer.getmany(timeout_ms=1000, max_records=25 - seen)
            seen += sum(len(records) for records in batches.values())
        tp = TopicPartition(topic, 0)
        await consumer.commit({tp: 25})
    finally:
        await consumer.stop()

    assert await committed_offsets(KafkaConnection(kafka_bootstrap_servers), group, [tp]) == {
        tp: 25
    }
    assert await lag(KafkaConnection(kafka_bootstrap_servers), group, [topic]) == 15


async def test_lag_in_seconds_is_the_age_of_the_oldest_record_not_committed(
    kafka_bootstrap_servers: str, namespace: str
) -> None:
    topic = f"{namespace}.lag-seconds"
    await ensure_topics(
        KafkaConnection(kafka_bootstrap_servers), [topic], partitions=2, replication_factor=1
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for stamp in (1_000_000, 2_000_000, 3_000_000):
            await producer.send_and_wait(topic, b"x", partition=0, timestamp_ms=stamp)
    finally:
        await producer.stop()
    group = f"{namespace}-group"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 1})
    finally:
        await consumer.stop()

    lags = await read_lag(KafkaConnection(kafka_bootstrap_servers), group, [topic], with_ages=True)

    assert lags == [
        PartitionLag(topic, 0, committed=1, end=3, oldest_pending_ms=2_000_000),
        PartitionLag(topic, 1, committed=0, end=0),
    ]
    assert [p.lag_seconds(5_000_000) for p in lags] == [3000.0, 0.0]
    only = await read_lag(
        KafkaConnection(kafka_bootstrap_servers), group, [topic], only={(topic, 1)}
    )
    assert only == [PartitionLag(topic, 1, committed=0, end=0)]
