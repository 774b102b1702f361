"""The Faust worker: one agent over the four topics, in batches.

    decode -> project -> apply -> acknowledge

Events are acknowledged (and so committed) only after their batch is applied
or dead-lettered: a worker stopped or killed mid-batch leaves the batch to be
redelivered, and applying it again changes nothing. Beside the agent run the
worker's timers (``projector/worker/timers.py``).
"""

from __future__ import annotations

from typing import Any

import faust

from projector.kafka.records import Record
from projector.settings import ProjectorSettings
from projector.worker.batches import Batches, in_batches
from projector.worker.faust_fetch_wait import set_fetch_wait
from projector.worker.healing import faust_healer
from projector.worker.health import WorkerHealth
from projector.worker.resources import Resources
from projector.worker.timers import add_timers


def to_record(event: Any) -> Record:
    """The record a Faust stream's event holds."""
    message = event.message
    timestamp_ms = None if message.timestamp is None else int(message.timestamp * 1000)
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value, timestamp_ms
    )


def faust_app(settings: ProjectorSettings) -> faust.App:
    """The Faust app with the worker's settings, no agent yet (``bench/`` reuses it)."""
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
    set_fetch_wait(app, settings.fetch_max_wait_ms)
    return app


def create_app(settings: ProjectorSettings) -> faust.App:
    app = faust_app(settings)
    topics = app.topic(*settings.topics.names(), key_type=bytes, value_type=bytes)
    resources = Resources(
        settings,
        WorkerHealth(settings.stall_after_s),
        lambda redis: faust_healer(app, redis, settings),
    )

    @app.agent(topics, concurrency=1, name="project")
    async def project(stream: faust.StreamT[bytes]) -> None:
        await resources.start()
        pipeline = resources.pipeline
        try:
            await in_batches(  # acknowledges each batch's events once it is written
                stream,
                Batches(settings.batch_size, settings.batch_within_s, settings.batch_quiet_s),
                prepare=lambda events: pipeline.prepare([to_record(e) for e in events]),
                write=pipeline.write,
            )
        finally:
            await resources.stop()

    add_timers(app, settings, resources)
    return app
