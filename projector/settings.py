"""The projector's settings, from the environment (``PROJECTOR_*``, plus the shared ones)."""

from __future__ import annotations

import os
import tempfile

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from events.kafka import KafkaSettings
from events.topics import Topics
from readmodel.settings import RedisSettings
from readmodel.writer import DAY_MS, Retention


class ProjectorSettings(KafkaSettings, RedisSettings):
    """Kafka's and Redis's shared variables (``settings.kafka``, ``settings.redis``), and these."""

    model_config = SettingsConfigDict(env_prefix="PROJECTOR_", extra="ignore", frozen=True)

    topic_prefix: str = Field(
        "",
        validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX"),
        description="prepended to the four topic names, and so to their .dlq topics",
    )

    group_id: str = Field(
        "upcoming-meetings-projector", description="Faust app id and Kafka consumer group"
    )
    topic_partitions: int = Field(
        4, ge=1, description="partitions of the topics the projector creates (missing ones only)"
    )
    replication_factor: int = Field(
        1, ge=1, description="replication factor of the topics the projector creates"
    )
    batch_size: int = Field(2000, ge=1, description="most records per batch")
    batch_within_s: float = Field(
        0.05,
        gt=0,
        description="longest a batch's first record waits for more; the batch is then "
        "taken, and prepared while the one before is written",
    )
    batch_quiet_s: float = Field(
        0.002,
        ge=0,
        description="while Redis is idle, a batch is taken once no record has come for this long",
    )
    fetch_max_wait_ms: int = Field(
        50,
        ge=0,
        description="longest the broker may hold a fetch for records (Faust fixes 1500); "
        "Tansu holds it that long even when records arrive, Apache Kafka answers at once",
    )
    prune_interval_s: float = Field(
        60.0, gt=0, description="how often ended meetings are pruned from the lists"
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Kafka consumer session timeout: a dead worker's partitions move after this",
    )
    heartbeat_interval_s: float = Field(1.0, gt=0, description="Kafka consumer heartbeat interval")
    startup_timeout_s: float = Field(
        30.0,
        ge=0,
        description="how long to wait for Kafka (and its topics) and Redis before exiting 1",
    )
    data_dir: str = Field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "upcoming-meetings-projector"),
        description="Faust's data directory (nothing durable is kept there)",
    )

    metrics_port: int = Field(
        9108, ge=0, le=65535, description="serves /metrics and /healthz; 0 serves nothing"
    )
    lag_interval_s: float = Field(10.0, gt=0, description="how often the consumer lag is measured")
    stall_after_s: float = Field(
        60.0, gt=0, description="lag with no batch applied (or apply failing) this long: stalled"
    )
    heartbeat_s: float = Field(5.0, gt=0, description="how often a worker writes its heartbeat")

    redis_min_replicas: int = Field(
        0,
        ge=0,
        description="a batch is acknowledged only once this many replicas of every Redis node "
        "have it (WAIT); 0: without waiting (docs/healing.md)",
    )
    redis_wait_timeout_ms: int = Field(
        1000, ge=1, description="longest one WAIT for replicas lasts; then the batch is retried"
    )

    rebuild_batch_size: int = Field(
        20_000, ge=1, description="records per batch of a rebuild or verify"
    )
    rebuild_lock_ttl_s: float = Field(
        15.0, gt=0, description="a rebuild that stops renewing its lock for this long is over"
    )
    generation_grace_s: float = Field(
        5.0, ge=0, description="after a swap, how long the old generation stays for slow readers"
    )

    ended_retention_days: float = Field(
        7, gt=0, description="days a meeting's state is kept after its end"
    )
    tombstone_retention_days: float = Field(
        30, gt=0, description="days canceled/completed meetings and list tombstones are kept"
    )
    pending_retention_days: float = Field(
        30, gt=0, description="days registrations wait for their meeting's first snapshot"
    )

    @model_validator(mode="after")
    def _stall_outlasts_lag_measurement(self) -> ProjectorSettings:
        # The lag a worker knows is up to one interval old; a shorter bound
        # would call a worker that has just caught up stalled.
        if self.stall_after_s < 2 * self.lag_interval_s:
            raise ValueError(
                "PROJECTOR_STALL_AFTER_S must be at least twice PROJECTOR_LAG_INTERVAL_S"
            )
        return self

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    @property
    def retention(self) -> Retention:
        return Retention(
            ended_ms=int(self.ended_retention_days * DAY_MS),
            tombstone_ms=int(self.tombstone_retention_days * DAY_MS),
            pending_ms=int(self.pending_retention_days * DAY_MS),
        )
