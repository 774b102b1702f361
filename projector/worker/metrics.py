"""The projector's Prometheus metrics, and the small HTTP server that shows them.

    projector_events_applied_total{event_type}       valid events applied
    projector_events_rejected_total{topic, kind}     records dead-lettered; kind is
        invalid_json, unknown_event_type, broken_rule, no_value or projection_error
    projector_apply_seconds                          time to apply a batch, retries included
    projector_batch_size                             records per batch
    projector_consumer_lag{topic, partition}         records not yet committed, for the
        partitions assigned to this worker (measured every PROJECTOR_LAG_INTERVAL_S)
    projector_consumer_lag_total                     their sum
    projector_last_applied_timestamp_seconds         when this worker last applied a batch

The server (``PROJECTOR_METRICS_PORT``) answers ``GET /metrics`` and ``GET
/healthz``: 200 with the worker's health as JSON, 503 when it is stalled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from events.kafka import KafkaConnection
from events.models import EVENT_TYPES
from projector.kafka.offsets import committed_offsets, log_end_offsets
from projector.kafka.records import Record
from projector.worker.health import State, WorkerHealth

logger = logging.getLogger(__name__)

Partition = tuple[str, int]

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
CONSUMER_LAG = Gauge(
    "projector_consumer_lag",
    "Records not yet committed, per partition assigned to this worker",
    ["topic", "partition"],
)
CONSUMER_LAG_TOTAL = Gauge(
    "projector_consumer_lag_total", "Records not yet committed, over this worker's partitions"
)
LAST_APPLIED = Gauge(
    "projector_last_applied_timestamp_seconds", "When this worker last applied a batch"
)

for _event_type in EVENT_TYPES:  # every type shows up, at 0, from the start
    EVENTS_APPLIED.labels(_event_type.model_fields["event_type"].default)


class PrometheusObserver:
    """The pipeline's ``Observer``: counts into the metrics, tells the worker's health."""

    def __init__(self, health: WorkerHealth) -> None:
        self.health = health

    def applied(
        self, records: Sequence[Record], event_types: Sequence[str], seconds: float
    ) -> None:
        for event_type in event_types:
            EVENTS_APPLIED.labels(event_type).inc()
        APPLY_SECONDS.observe(seconds)
        BATCH_SIZE.observe(len(records))
        LAST_APPLIED.set_to_current_time()
        timestamps = [r.timestamp_ms for r in records if r.timestamp_ms is not None]
        self.health.applied(len(event_types), max(timestamps, default=None))

    def apply_failed(self) -> None:
        self.health.apply_failed()

    def rejected(self, record: Record, kind: str) -> None:
        EVENTS_REJECTED.labels(record.topic, kind).inc()


def lag_of(
    ends: Mapping[Partition, int], committed: Mapping[Partition, int], assigned: Iterable[Partition]
) -> dict[Partition, int]:
    """Records not yet committed, per assigned partition (0 where the end is unknown)."""
    return {tp: max(ends.get(tp, 0) - committed.get(tp, 0), 0) for tp in sorted(assigned)}


async def measure_lag(
    kafka: KafkaConnection, group_id: str, topics: Sequence[str], assigned: Iterable[Partition]
) -> int:
    """Measure the lag of the assigned partitions, set the gauges; the total."""
    assigned = set(assigned)
    ends = await log_end_offsets(kafka, topics)
    committed = await committed_offsets(kafka, group_id, ends)
    lags = lag_of(
        {(tp.topic, tp.partition): end for tp, end in ends.items()},
        {(tp.topic, tp.partition): offset for tp, offset in committed.items()},
        assigned,
    )
    CONSUMER_LAG.clear()  # partitions move between workers
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)
    total = sum(lags.values())
    CONSUMER_LAG_TOTAL.set(total)
    return total


class MetricsServer:
    """``/metrics`` and ``/healthz`` on their own port."""

    def __init__(self, health: WorkerHealth, host: str, port: int) -> None:
        self.health = health
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
