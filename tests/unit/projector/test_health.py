"""Health decisions, heartbeats and metric labels: pure, no network."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.routing import Route

from api.metrics import OTHER, route_label
from projector.kafka.offsets import PartitionLag
from projector.kafka.records import Record
from projector.projection.memory import InMemoryReadModel
from projector.worker.health import State, WorkerHealth, decide_state, heartbeat
from projector.worker.metrics import BatchHistogram, PrometheusObserver
from projector.worker.pipeline import OneWriter, Pipeline
from readmodel.changes import Change
from readmodel.heartbeats import FORGET_AFTER_MS, forgotten_workers, live_workers
from tests.builders import encode, scheduled

BOUND = 60.0

# now, lag, last applied (or started) at, retrying since -> state
HEALTH_CASES = [
    pytest.param(1000.0, 0, 0.0, None, State.IDLE, id="caught up long ago"),
    pytest.param(1000.0, None, 0.0, None, State.IDLE, id="lag not measured yet"),
    pytest.param(1000.0, 500, 990.0, None, State.PROGRESSING, id="behind, applied lately"),
    pytest.param(1000.0, 500, 940.0, None, State.PROGRESSING, id="behind, applied at the bound"),
    pytest.param(1000.0, 500, 939.0, None, State.STALLED, id="behind, nothing applied for long"),
    pytest.param(1000.0, 500, 990.0, 970.0, State.PROGRESSING, id="failing, not for long"),
    pytest.param(1000.0, 500, 900.0, 930.0, State.STALLED, id="failing for longer than the bound"),
    pytest.param(1000.0, 0, 990.0, 930.0, State.STALLED, id="failing, whatever the lag says"),
]


@pytest.mark.parametrize(("now", "lag", "applied_at", "retrying_since", "state"), HEALTH_CASES)
def test_the_state_of_a_worker(
    now: float, lag: int | None, applied_at: float, retrying_since: float | None, state: State
) -> None:
    assert decide_state(now, lag, applied_at, retrying_since, BOUND) == state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_stalls_while_applying_fails_and_recovers_once_it_applies() -> None:
    clock = Clock()
    health = WorkerHealth(BOUND, clock, wall_clock_ms=lambda: 5_000)
    health.lag = 10

    health.apply_failed()
    clock.now += 30
    health.apply_failed()  # the same outage: still counted from the first failure
    assert health.state() == State.PROGRESSING
    clock.now += 31
    assert health.state() == State.STALLED

    health.applied(3, newest_event_ms=4_000)
    health.applied(2, newest_event_ms=3_000)
    assert health.state() == State.PROGRESSING
    assert heartbeat("host:1", health) == {
        "worker": "host:1",
        "at_ms": 5_000,
        "last_applied_ms": 5_000,
        "newest_event_ms": 4_000,
        "events_applied": 5,
        "state": "progressing",
    }
    health.lag = 0
    assert health.report()["state"] == "idle"


def test_a_fresh_worker_is_not_stalled_before_the_bound() -> None:
    clock = Clock()
    health = WorkerHealth(BOUND, clock)
    health.lag = 10
    clock.now += BOUND
    assert health.state() == State.PROGRESSING
    clock.now += 1
    assert health.state() == State.STALLED


def beat(at_ms: int, state: str = "idle") -> bytes:
    return json.dumps({"worker": "w", "at_ms": at_ms, "state": state}).encode()


def test_live_workers_are_recent_and_not_stalled() -> None:
    now = 1_000_000
    beats = {
        b"fresh": beat(now - 1_000),
        b"progressing": beat(now - 60_000, "progressing"),
        b"old": beat(now - 60_001),
        b"stalled": beat(now, "stalled"),
        b"broken": b"not json",
        b"no-time": json.dumps({"state": "idle"}).encode(),
        b"a-list": b"[1]",
    }
    assert live_workers(beats, now, 60_000) == ["fresh", "progressing"]
    assert live_workers({}, now, 60_000) == []


def test_heartbeats_past_ten_minutes_are_forgotten() -> None:
    now = 10_000_000
    beats = {
        b"recent": beat(now - FORGET_AFTER_MS),
        b"gone": beat(now - FORGET_AFTER_MS - 1),
        b"broken": b"{",
    }
    assert forgotten_workers(beats, now) == [b"gone", b"broken"]


@pytest.mark.parametrize(
    ("committed", "end", "oldest_ms", "lag", "seconds"),
    [
        (4, 10, 7_000, 6, 3.0),  # behind: the oldest pending record's age
        (9, 5, None, 0, 0.0),  # committed past a (short) end: no lag
        (5, 5, None, 0, 0.0),  # caught up: nothing waits
        (0, 7, None, 7, None),  # behind, the oldest record's timestamp not read
        (3, 4, 12_000, 1, 0.0),  # a timestamp after now (another clock): not negative
    ],
)
def test_a_partitions_lag_in_records_and_seconds(
    committed: int, end: int, oldest_ms: int | None, lag: int, seconds: float | None
) -> None:
    partition = PartitionLag("a", 0, committed, end, oldest_ms)
    assert partition.lag == lag
    assert partition.lag_seconds(10_000) == seconds


def test_event_ages_are_counted_a_batch_at_a_time() -> None:
    registry = CollectorRegistry()
    ages = BatchHistogram("age_seconds", "ages", "topic", (0.1, 1.0), registry)
    ages.observe_many("meetings", [0.5, 0.05, 2.0, 1.0])
    ages.observe_many("meetings", [0.1])
    ages.observe_many("tokens", [3.0])

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("age_seconds_bucket", topic="meetings", le="0.1") == 2
    assert sample("age_seconds_bucket", topic="meetings", le="1.0") == 4
    assert sample("age_seconds_bucket", topic="meetings", le="+Inf") == 5
    assert sample("age_seconds_count", topic="meetings") == 5
    assert sample("age_seconds_sum", topic="meetings") == pytest.approx(3.65)
    assert sample("age_seconds_bucket", topic="tokens", le="1.0") == 0
    assert sample("age_seconds_count", topic="tokens") == 1


UPCOMING = "/api/v2/organizations/{organization_id}/upcoming_meetings"


async def endpoint(*_: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("scope", "label"),
    [
        ({"route": Route(UPCOMING, endpoint)}, UPCOMING),
        ({"route": Route("/readyz", endpoint)}, "/readyz"),
        ({}, OTHER),
        ({"route": object()}, OTHER),
    ],
)
def test_requests_are_labelled_by_route_template(scope: dict[str, Any], label: str) -> None:
    assert route_label(scope) == label


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class InMemoryDeadLetters:
    async def send(self, record: Record, reason: str) -> None:
        return None


class InMemoryStore:
    def __init__(self) -> None:
        self.model = InMemoryReadModel()

    async def apply(self, changes: Sequence[Change]) -> None:
        self.model.apply(changes)


async def test_the_pipeline_counts_applied_by_type_and_rejected_by_kind() -> None:
    health = WorkerHealth(BOUND)
    observer = PrometheusObserver(health)
    pipeline = Pipeline(OneWriter(InMemoryStore()), InMemoryDeadLetters(), observer)
    topic = "unit-metrics.meeting-events"
    applied = "projector_events_applied_total"
    rejected = "projector_events_rejected_total"
    before = (
        sample(applied, event_type="meeting.scheduled"),
        sample(rejected, topic=topic, kind="invalid_json"),
        sample(rejected, topic=topic, kind="no_value"),
        sample("projector_apply_seconds_count"),
        sample("projector_event_age_seconds_count", topic=topic) or 0,
        sample("projector_event_age_seconds_bucket", topic=topic, le="900.0") or 0,
    )

    await pipeline.process(
        [
            Record(topic, 0, 0, b"1", encode(scheduled(meeting_id=1)), 1_000),
            Record(topic, 0, 1, b"2", encode(scheduled(meeting_id=2)), 3_000),
            Record(topic, 0, 2, b"3", b"{not json", 2_000),
            Record(topic, 0, 3, b"4", None),
        ]
    )

    after = (
        sample(applied, event_type="meeting.scheduled"),
        sample(rejected, topic=topic, kind="invalid_json"),
        sample(rejected, topic=topic, kind="no_value"),
        sample("projector_apply_seconds_count"),
        sample("projector_event_age_seconds_count", topic=topic),
        sample("projector_event_age_seconds_bucket", topic=topic, le="900.0"),
    )
    # Three records carry a timestamp, from 1970: older than the last bucket.
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 1, 1, 3, 0]
    assert (health.events_applied, health.newest_event_ms) == (2, 3_000)
    every_type = {"event_type": "api_token.revoked"}  # shown from the start, at 0
    assert REGISTRY.get_sample_value(applied, every_type) is not None
