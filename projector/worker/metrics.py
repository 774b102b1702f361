"""The projector's Prometheus metrics, and the small HTTP server that shows them.

    projector_events_applied_total{event_type}       valid events applied
    projector_events_rejected_total{topic, kind}     records dead-lettered; kind is
        invalid_json, unknown_event_type, broken_rule, no_value or projection_error
    projector_apply_seconds                          time to apply a batch, retries included
    projector_batch_size                             records per batch
    projector_event_age_seconds{topic}               when applied, how old each event
        was: the apply time minus the record's Kafka timestamp (the freshness SLI)
    projector_consumer_lag{topic, partition}         records not yet committed, for the
        partitions assigned to this worker (measured every PROJECTOR_LAG_INTERVAL_S)
    projector_consumer_lag_seconds{topic, partition} how long the oldest of them has waited
    projector_consumer_lag_total                     their sum, in records
    projector_last_applied_timestamp_seconds         when this worker last applied a batch
    projector_stalled                                1 while this worker is stalled

and the read model's gauges (``projector/worker/gauges.py``). The lag comes
from ``projector.kafka.offsets.read_lag``, as ``python -m projector status``'s.

Event ages are observed a batch at a time (``BatchHistogram``): one sort and a
bisection per bucket for a whole batch, not a lock and a search per event.

The server (``PROJECTOR_METRICS_PORT``) answers ``GET /metrics`` and ``GET
/healthz``: 200 with the worker's health as JSON, 503 when it is stalled.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import json
import logging
from collections.abc import Collection, Iterator, Sequence

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from events.kafka import KafkaConnection
from events.models import EVENT_TYPES
from events.times import wall_clock_ms
from projector.kafka.offsets import read_lag
from projector.kafka.records import Record
from projector.worker.health import State, WorkerHealth
from readmodel.applied import applied_channel, encode_applied
from readmodel.connections import RedisClient

logger = logging.getLogger(__name__)

Partition = tuple[str, int]

AGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class BatchHistogram(Collector):
    """A histogram with one label, observed a batch of values at a time."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.buckets = tuple(buckets)
        self._counts: dict[str, list[int]] = {}  # label value -> per bucket, then +Inf
        self._sums: dict[str, float] = {}
        if registry is not None:
            registry.register(self)

    def observe_many(self, value: str, observations: list[float]) -> None:
        """Count ``observations`` (sorted in place) under the label ``value``."""
        counts = self._counts.get(value)
        if counts is None:
            counts = self._counts[value] = [0] * (len(self.buckets) + 1)
            self._sums[value] = 0.0
        observations.sort()
        for i, bound in enumerate(self.buckets):
            counts[i] += bisect.bisect_right(observations, bound)
        counts[-1] += len(observations)
        self._sums[value] += sum(observations)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, counts in sorted(self._counts.items()):
            bounds = [str(float(b)) for b in self.buckets] + ["+Inf"]
            family.add_metric(
                [value], list(zip(bounds, map(float, counts), strict=True)), self._sums[value]
            )
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=[self.label])


EVENTS_APPLIED = Counter(
    "projector_events_applied", "Valid events applied to the read model", ["event_type"]
)
EVENTS_REJECTED = Counter(
    "projector_events_rejected", "Records dead-lettered, by source topic", ["topic", "kind"]
)
APPLY_SECONDS = Histogram(
    "projector_apply_seconds",
    "Time to apply one batch to the read model, retries included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_SIZE = Histogram(
    "projector_batch_size",
    "Records per batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 20_000),
)
EVENT_AGE = BatchHistogram(
    "projector_event_age_seconds",
    "Age of each event when applied: apply time minus the record's Kafka timestamp",
    "topic",
    AGE_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "projector_consumer_lag",
    "Records not yet committed, per partition assigned to this worker",
    ["topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "projector_consumer_lag_seconds",
    "How long the oldest record not yet committed has waited, per partition of this worker",
    ["topic", "partition"],
)
CONSUMER_LAG_TOTAL = Gauge(
    "projector_consumer_lag_total", "Records not yet committed, over this worker's partitions"
)
LAST_APPLIED = Gauge(
    "projector_last_applied_timestamp_seconds", "When this worker last applied a batch"
)
STALLED = Gauge("projector_stalled", "1 while this worker is stalled (its /healthz answers 503)")

for _event_type in EVENT_TYPES:  # every type shows up, at 0, from the start
    EVENTS_APPLIED.labels(_event_type.model_fields["event_type"].default)


class AppliedAnnouncer:
    """Publishes each applied batch's time for the API (``readmodel/applied.py``).

    Never waits and never raises: one publish at a time, a batch applied while
    one is out is not announced (the next one is).
    """

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.channel = applied_channel(prefix)
        self._out: asyncio.Task[None] | None = None

    def announce(self, applied_ms: int) -> None:
        if self._out is None or self._out.done():
            self._out = asyncio.get_running_loop().create_task(self._publish(applied_ms))

    async def _publish(self, applied_ms: int) -> None:
        try:
            await self.redis.publish(self.channel, encode_applied(applied_ms))
        except Exception as exc:  # the API then measures nothing for this batch
            logger.debug("cannot announce an applied batch: %r", exc)


class PrometheusObserver:
    """The pipeline's ``Observer``: counts into the metrics, tells the worker's health."""

    def __init__(self, health: WorkerHealth, announcer: AppliedAnnouncer | None = None) -> None:
        self.health = health
        self.announcer = announcer

    def applied(
        self, records: Sequence[Record], event_types: Sequence[str], seconds: float
    ) -> None:
        now_ms = wall_clock_ms()
        if self.announcer is not None:
            self.announcer.announce(now_ms)
        for event_type, count in collections.Counter(event_types).items():
            EVENTS_APPLIED.labels(event_type).inc(count)  # once per type, not per event
        APPLY_SECONDS.observe(seconds)
        BATCH_SIZE.observe(len(records))
        LAST_APPLIED.set(now_ms / 1000)
        ages: dict[str, list[float]] = {}
        newest = None
        for record in records:
            stamp = record.timestamp_ms
            if stamp is not None:
                ages.setdefault(record.topic, []).append((now_ms - stamp) / 1000)
                if newest is None or stamp > newest:
                    newest = stamp
        for topic, observations in ages.items():
            EVENT_AGE.observe_many(topic, observations)
        self.health.applied(len(event_types), newest)

    def apply_failed(self) -> None:
        self.health.apply_failed()

    def rejected(self, record: Record, kind: str) -> None:
        EVENTS_REJECTED.labels(record.topic, kind).inc()


async def measure_lag(
    kafka: KafkaConnection,
    group_id: str,
    topics: Sequence[str],
    assigned: Collection[Partition],
) -> int:
    """Measure the lag of the assigned partitions, set the gauges; the total."""
    lags = await read_lag(kafka, group_id, topics, only=set(assigned), with_ages=True)
    now_ms = wall_clock_ms()
    CONSUMER_LAG.clear()  # partitions move between workers
    CONSUMER_LAG_SECONDS.clear()
    for p in lags:
        CONSUMER_LAG.labels(p.topic, str(p.partition)).set(p.lag)
        seconds = p.lag_seconds(now_ms)
        if seconds is not None:
            CONSUMER_LAG_SECONDS.labels(p.topic, str(p.partition)).set(seconds)
    total = sum(p.lag for p in lags)
    CONSUMER_LAG_TOTAL.set(total)
    return total


class MetricsServer:
    """``/metrics`` and ``/healthz`` on their own port."""

    def __init__(self, health: WorkerHealth, host: str, port: int) -> None:
        self.health = health
        STALLED.set_function(lambda: float(health.state() == State.STALLED))
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        logger.info("serving /metrics and /healthz on port %d", self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        report = self.health.report()
        status = 503 if report["state"] == State.STALLED else 200
        return web.Response(body=json.dumps(report), status=status, content_type="application/json")
