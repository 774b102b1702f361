"""The worker's clients and the objects built on them, created once its loop runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from events.retry import retry
from projector.kafka.deadletters import KafkaDeadLetters
from projector.kafka.offsets import group_has_committed
from projector.settings import ProjectorSettings
from projector.worker.healing import Healer
from projector.worker.health import WorkerHealth
from projector.worker.metrics import AppliedAnnouncer, PrometheusObserver
from projector.worker.pipeline import Pipeline
from projector.worker.recovery import SelfRebuild
from readmodel.connections import RedisClient, connect_redis
from readmodel.generations import Generations


class Resources:
    """The worker's clients, created once the worker's event loop runs."""

    def __init__(
        self,
        settings: ProjectorSettings,
        health: WorkerHealth,
        healer_of: Callable[[RedisClient], Healer] | None = None,
    ) -> None:
        self.settings = settings
        self.health = health
        self._healer_of = healer_of
        self.healer: Healer | None = None  # lost writes applied again (docs/healing.md)
        self._ready = asyncio.Event()
        self._redis: RedisClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self.rebuilder = SelfRebuild(
            lambda: self._redis, settings.key_prefix, retry_s=max(settings.rebuild_lock_ttl_s, 1.0)
        )
        self.generations: Generations
        self.pipeline: Pipeline

    async def start(self) -> None:
        """Connect, retrying until Redis and Kafka are there."""
        await retry(self._connect, "connecting to Redis and Kafka")

    async def _connect(self) -> None:
        """Safe to call again after a failure."""
        settings = self.settings
        if self._redis is None:
            self._redis = connect_redis(settings.redis)
        self.generations = Generations(
            self._redis,
            settings.key_prefix,
            settings.retention,
            self._group_is_fresh,
            self.rebuilder.trigger,
        )
        if self._producer is None:
            producer = AIOKafkaProducer(**settings.kafka.client_options(), acks="all")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        if self.healer is None and self._healer_of is not None:
            self.healer = self._healer_of(self._redis)
        self.pipeline = Pipeline(
            self.generations,
            KafkaDeadLetters(self._producer),
            PrometheusObserver(self.health, AppliedAnnouncer(self._redis, settings.key_prefix)),
            self.healer,
        )
        self._ready.set()

    async def _group_is_fresh(self) -> bool:
        settings = self.settings
        return not await group_has_committed(
            settings.kafka, settings.group_id, settings.topics.names()
        )

    async def ready(self) -> None:
        await self._ready.wait()

    @property
    def redis(self) -> RedisClient | None:
        return self._redis

    async def stop(self) -> None:
        await self.rebuilder.stop()
        if self.healer is not None:
            await self.healer.aclose()
        if self._producer is not None:
            await self._producer.stop()
        if self._redis is not None:
            await self._redis.aclose()
