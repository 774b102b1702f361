"""The Faust worker: one agent over the four topics, in batches.

    decode -> project -> apply -> acknowledge

Events are acknowledged (and so committed) only after their batch is applied
or dead-lettered: a worker stopped or killed mid-batch leaves the batch to be
redelivered, and applying it again changes nothing.

Beside the agent: timers that prune, measure the consumer lag, write the
worker's heartbeat and watch for a lost read model (which the worker then
rebuilds by itself: ``projector/worker/recovery.py``), and a task that serves
``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from aiokafka import AIOKafkaProducer

from projector.kafka.deadletters import KafkaDeadLetters
from projector.kafka.offsets import group_has_committed
from projector.kafka.records import Record
from projector.settings import ProjectorSettings
from projector.worker.health import WorkerHealth, worker_id
from projector.worker.health import heartbeat as heartbeat_of
from projector.worker.metrics import MetricsServer, PrometheusObserver, measure_lag
from projector.worker.pipeline import Pipeline
from projector.worker.recovery import SelfRebuild
from projector.worker.retry import retry_forever
from readmodel.connections import RedisClient, connect_redis
from readmodel.generations import Generations, ReadModelLost
from readmodel.heartbeats import HeartbeatWriter

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Resources:
    """The worker's clients, created once the worker's event loop runs."""

    def __init__(self, settings: ProjectorSettings, health: WorkerHealth) -> None:
        self.settings = settings
        self.health = health
        self._ready = asyncio.Event()
        self._redis: RedisClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self.rebuilder = SelfRebuild(
            lambda: self._redis, settings.key_prefix, retry_s=max(settings.rebuild_lock_ttl_s, 1.0)
        )
        self.generations: Generations
        self.pipeline: Pipeline

    async def start(self) -> None:
        """Connect; safe to call again after a failure."""
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
        self.pipeline = Pipeline(
            self.generations, KafkaDeadLetters(self._producer), PrometheusObserver(self.health)
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
        if self._producer is not None:
            await self._producer.stop()
        if self._redis is not None:
            await self._redis.aclose()


def to_record(event: Any) -> Record:
    message = event.message
    timestamp_ms = None if message.timestamp is None else int(message.timestamp * 1000)
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value, timestamp_ms
    )


class Batches:
    """The agent's records, taken by the writer a batch at a time.

    ``take`` returns a batch once there are ``size`` records or its first
    record has waited ``within_s`` (such a batch is prepared while the one
    before is written), or once the batch before has been written (the
    writer is idle) and no record has come for ``quiet_s`` (what the
    consumer fetched has all arrived). So records wait for a window only
    while they keep coming, and batches grow with the load. ``add`` waits while a
    full batch is not taken yet, which holds Faust's stream (and then the
    consumer) back.
    """

    def __init__(self, size: int, within_s: float, quiet_s: float = 0.0) -> None:
        self.size = size
        self.within_s = within_s
        self.quiet_s = quiet_s
        self._items: list[Any] = []
        self._first_at = self._last_at = 0.0
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    async def add(self, item: Any) -> None:
        await self._room.wait()
        self._last_at = asyncio.get_running_loop().time()
        if not self._items:
            self._first_at = self._last_at
        self._items.append(item)
        if len(self._items) == 1 or len(self._items) >= self.size:
            self._changed.set()
        if len(self._items) >= self.size:
            self._room.clear()

    async def take(self, writing: asyncio.Future[Any] | None = None) -> list[Any]:
        """The next batch; ``writing`` is the batch before, being written."""
        loop = asyncio.get_running_loop()
        while len(self._items) < self.size:
            timer: asyncio.Future[Any] | None = None
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
            if self._items:
                due = self._first_at + self.within_s
                if writing is not None and not writing.done():
                    waits.append(writing)
                else:
                    due = min(self._last_at + self.quiet_s, due)
                if due <= loop.time():
                    waits[0].cancel()
                    break
                timer = asyncio.ensure_future(asyncio.sleep(due - loop.time()))
                waits.append(timer)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waits[0].cancel()
                if timer is not None:
                    timer.cancel()
            self._changed.clear()
        batch = self._items[: self.size]
        del self._items[: self.size]
        self._room.set()
        return batch


async def in_batches(
    stream: Any,
    batches: Batches,
    prepare: Callable[[list[Any]], Awaitable[T]],
    write: Callable[[T], Awaitable[None]],
) -> None:
    """Run an agent's ``stream`` in batches: prepare, write, then acknowledge.

    The stream's events go into ``batches`` (``Batches`` says when one is
    taken); a full batch is prepared while the one before is written. Batches
    are written one at a time, in order, each by a task of its own, and their
    events are acknowledged only once it is written: a worker stopped or
    killed mid-batch leaves the batch to be redelivered.
    """
    events = stream.noack()  # acknowledged by hand, once applied

    async def write_then_ack(prepared: T, batch: list[Any]) -> None:
        await write(prepared)
        for event in batch:
            await events.ack(event)

    async def write_batches() -> None:
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await batches.take(writing)
                prepared = await prepare(batch)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(write_then_ack(prepared, batch))
        finally:
            if writing is not None and not writing.done():
                writing.cancel()  # not acknowledged: redelivered
                with contextlib.suppress(asyncio.CancelledError):
                    await writing

    writer = asyncio.create_task(write_batches())
    try:
        async for event in events.events():
            if writer.done():
                break
            await batches.add(event)
        if writer.done():
            writer.result()  # its failure, if it failed
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


_fetch_waits: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _let_apps_set_the_fetch_wait() -> None:
    """Faust fixes its consumer's ``fetch_max_wait_ms`` at 1500; use each app's own.

    A broker that answers a fetch only when the wait is over, not as soon as a
    record arrives (Tansu does), adds up to that wait to every event's latency.
    The consumer reads the attribute when it starts, just after this.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "sets_fetch_wait", False):
        return

    def create(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = original(self, transport)
        wait = _fetch_waits.get(self.app)
        if wait is not None:
            consumer._fetch_max_wait_ms = wait
        return consumer

    create.sets_fetch_wait = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


def faust_app(settings: ProjectorSettings) -> faust.App:
    """The Faust app with the worker's settings, no agent yet (``bench/`` reuses it)."""
    _let_apps_set_the_fetch_wait()
    brokers = ";".join(
        f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")
    )
    app = faust.App(
        settings.group_id,
        broker=brokers,
        broker_credentials=settings.kafka.security.broker_credentials(),
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
        broker_commit_every=1000,
        # Stopping must not wait for a batch that cannot be applied (Redis
        # down): the batch is not acknowledged, so it is simply redelivered.
        stream_wait_empty=False,
        datadir=settings.data_dir,
        web_enabled=False,
    )
    _fetch_waits[app] = settings.fetch_max_wait_ms
    return app


def create_app(settings: ProjectorSettings) -> faust.App:
    app = faust_app(settings)
    topics = app.topic(*settings.topics.names(), key_type=bytes, value_type=bytes)
    health = WorkerHealth(settings.stall_after_s)
    resources = Resources(settings, health)

    @app.agent(topics, concurrency=1, name="project")
    async def project(stream: faust.StreamT[bytes]) -> None:
        await retry_forever(resources.start, "connecting to Redis and Kafka")
        try:
            await in_batches(
                stream,
                Batches(settings.batch_size, settings.batch_within_s, settings.batch_quiet_s),
                lambda batch: resources.pipeline.prepare([to_record(e) for e in batch]),
                lambda prepared: resources.pipeline.write(prepared),
            )
        finally:
            await resources.stop()

    @app.timer(interval=settings.prune_interval_s)  # type: ignore[untyped-decorator]
    async def prune() -> None:
        await resources.ready()
        try:
            freed = 0
            for store in await resources.generations.writers():
                freed += await store.prune()
        except ReadModelLost:
            return  # being rebuilt; nothing of it to prune yet
        except Exception:
            logger.exception("pruning failed; next try in %.0fs", settings.prune_interval_s)
            return
        if freed:
            logger.info("pruned %d ended meetings and expired tombstones", freed)

    @app.timer(interval=settings.heartbeat_s)  # type: ignore[untyped-decorator]
    async def watch_read_model() -> None:
        """Notice a lost read model even when no event arrives (it then rebuilds)."""
        await resources.ready()
        try:
            await resources.generations.writers()
        except ReadModelLost:
            pass  # being rebuilt: ``writers`` has told the rebuilder
        except Exception as exc:
            logger.warning("cannot read the read model's generations: %r", exc)

    @app.timer(interval=settings.lag_interval_s)  # type: ignore[untyped-decorator]
    async def lag() -> None:
        names = settings.topics.names()
        try:
            assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment()]
            async with asyncio.timeout(max(settings.lag_interval_s, 10.0)):
                health.lag = await measure_lag(
                    settings.kafka,
                    settings.group_id,
                    names,
                    [tp for tp in assigned if tp[0] in names],
                )
        except Exception as exc:
            logger.warning("cannot measure the consumer lag: %r", exc)

    worker = worker_id()
    heartbeats = HeartbeatWriter(settings.key_prefix, worker, settings.heartbeat_s)

    @app.timer(interval=settings.heartbeat_s)  # type: ignore[untyped-decorator]
    async def heartbeat() -> None:
        await heartbeats.beat(resources.redis, heartbeat_of(worker, health))

    if settings.metrics_port:

        @app.task  # type: ignore[untyped-decorator]
        async def serve_metrics() -> None:
            server = MetricsServer(health, "0.0.0.0", settings.metrics_port)
            try:
                await server.start()
                await asyncio.Event().wait()  # until the worker stops (cancels this)
            except OSError:
                logger.exception("cannot serve metrics on port %d", settings.metrics_port)
            finally:
                await server.stop()

    return app
