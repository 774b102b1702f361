"""The Faust worker: one agent over the four topics, in batches.

    decode -> project -> apply -> acknowledge

Events are acknowledged (and so committed) only after their batch is applied
or dead-lettered: a worker stopped or killed mid-batch leaves the batch to be
redelivered, and applying it again changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from redis.asyncio import BlockingConnectionPool, Redis

from projector.deadletters import KafkaDeadLetters
from projector.generations import serving_keyspace
from projector.pipeline import Pipeline
from projector.records import Record
from projector.settings import ProjectorSettings
from projector.store import RedisReadModel

logger = logging.getLogger(__name__)


def connect_redis(url: str) -> Redis:
    return Redis(
        connection_pool=BlockingConnectionPool.from_url(url, max_connections=16, timeout=10)
    )


class Resources:
    """The worker's clients, created once the worker's event loop runs."""

    def __init__(self, settings: ProjectorSettings) -> None:
        self.settings = settings
        self._ready = asyncio.Event()
        self.redis: Redis
        self.producer: AIOKafkaProducer
        self.store: RedisReadModel
        self.pipeline: Pipeline

    async def start(self) -> None:
        settings = self.settings
        self.redis = connect_redis(settings.redis_url)
        keyspace = await serving_keyspace(self.redis, settings.key_prefix)
        self.store = RedisReadModel(self.redis, keyspace, settings.retention)
        await self.store.load_scripts()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all"
        )
        await self.producer.start()
        self.pipeline = Pipeline(self.store, KafkaDeadLetters(self.producer))
        logger.info("projecting into generation %s", keyspace.generation)
        self._ready.set()

    async def ready(self) -> None:
        await self._ready.wait()

    async def stop(self) -> None:
        if self._ready.is_set():
            await self.producer.stop()
            await self.redis.aclose()


def to_record(event: Any) -> Record:
    message = event.message
    return Record(message.topic, message.partition, message.offset, message.key, message.value)


def create_app(settings: ProjectorSettings) -> faust.App:
    brokers = ";".join(
        f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")
    )
    app = faust.App(
        settings.group_id,
        broker=brokers,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        producer_acks=-1,
        # A worker that dies is noticed within the session timeout, and its
        # partitions move to the others.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_commit_interval=1.0,
        web_enabled=False,
        web_port=settings.web_port,
    )
    topics = app.topic(*settings.topics.names(), key_type=bytes, value_type=bytes)
    resources = Resources(settings)

    @app.agent(topics, concurrency=1, name="project")
    async def project(stream: faust.StreamT[bytes]) -> None:
        await resources.start()
        try:
            async for batch in stream.noack_take(  # type: ignore[attr-defined]
                settings.batch_size, settings.batch_within_s
            ):
                await resources.pipeline.process([to_record(event) for event in batch])
                for event in batch:
                    await stream.ack(event)
        finally:
            await resources.stop()

    @app.timer(interval=settings.prune_interval_s)  # type: ignore[untyped-decorator]
    async def prune() -> None:
        await resources.ready()
        try:
            freed = await resources.store.prune()
        except Exception:
            logger.exception("pruning failed; next try in %.0fs", settings.prune_interval_s)
            return
        if freed:
            logger.info("pruned %d ended meetings and expired tombstones", freed)

    return app
