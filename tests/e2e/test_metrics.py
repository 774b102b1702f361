"""The projector's /metrics and /healthz as an operator sees them: counts of what
it applied and rejected, its lag, and a health that turns stalled while Redis
is down and recovers once it is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from readmodel.keys import Control
from tests.builders import registration_created, scheduled, token_issued
from tests.system import System

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def private_system(
    kafka_bootstrap_servers: str, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> Iterator[System]:
    """The system on a Redis of its own, which the test may stop."""
    running = System(kafka_bootstrap_servers, redis_server.url, namespace, tmp_path)
    try:
        yield running
    finally:
        running.stop()


class Projector:
    def __init__(self, system: System) -> None:
        self.port = free_port()
        self.system = system
        system.start(
            "projector",
            PROJECTOR_METRICS_PORT=str(self.port),
            PROJECTOR_LAG_INTERVAL_S="1",
            PROJECTOR_STALL_AFTER_S="2",
            PROJECTOR_HEARTBEAT_S="1",
        )
        system.wait_for(lambda: self.get("/healthz").status_code != 599, "the metrics port")

    def get(self, path: str) -> httpx.Response:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)
        except httpx.TransportError:
            return httpx.Response(599)

    def health(self) -> tuple[int, Any]:
        response = self.get("/healthz")
        return response.status_code, response.json() if response.status_code != 599 else None

    def metrics(self) -> Samples:
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(self.get("/metrics").text)
            for sample in family.samples
        }


def applied(event_type: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "projector_events_applied_total", (("event_type", event_type),)


def rejected(topic: str, kind: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "projector_events_rejected_total", (("kind", kind), ("topic", topic))


LAG_TOTAL = ("projector_consumer_lag_total", ())


def caught_up(samples: Samples) -> bool:
    """Every partition (4 topics x 4) measured, at lag 0, and every event applied."""
    lags = [value for (name, _), value in samples.items() if name == "projector_consumer_lag"]
    return len(lags) == 16 and not any(lags) and samples[applied("meeting.scheduled")] == 2


async def test_metrics_and_health_of_a_projector(
    private_system: System, redis_server: RedisServer
) -> None:
    system = private_system
    projector = Projector(system)
    topics = system.topics
    await system.publish(
        [
            token_issued(organization_id=5),
            scheduled(meeting_id=1, organization_id=5),
            scheduled(meeting_id=2, organization_id=5),
            registration_created(registration_id=1, meeting_id=1, user_id=7),
        ]
    )
    await system.publish_raw(topics.meetings, b"{not json", key=b"1")
    await system.publish_raw(topics.meetings, json.dumps({"event_type": "meeting.moved"}).encode())
    await system.publish_raw(
        topics.registrations, json.dumps(registration_created(registration_id=0)).encode()
    )
    await system.wait_caught_up()

    system.wait_for(
        lambda: caught_up(projector.metrics()),
        "the lag of every partition to be measured at 0",
    )
    samples = projector.metrics()
    assert samples[applied("meeting.scheduled")] == 2
    assert samples[applied("registration.created")] == 1
    assert samples[applied("api_token.issued")] == 1
    assert samples[applied("meeting.canceled")] == 0
    assert samples[rejected(topics.meetings, "invalid_json")] == 1
    assert samples[rejected(topics.meetings, "unknown_event_type")] == 1
    assert samples[rejected(topics.registrations, "broken_rule")] == 1
    assert samples[("projector_apply_seconds_count", ())] >= 1
    assert samples[("projector_last_applied_timestamp_seconds", ())] > 0
    assert samples[LAG_TOTAL] == 0

    system.wait_for(lambda: projector.health()[1]["state"] == "idle", "the projector to be idle")
    status, body = projector.health()
    assert status == 200
    assert body["events_applied"] == 4 and body["lag"] == 0
    with Redis.from_url(redis_server.url) as redis:
        beats = redis.hgetall(Control(system.namespace).heartbeats)
    (beat,) = [json.loads(value) for value in beats.values()]
    assert (beat["state"], beat["events_applied"]) == ("idle", 4)

    # Redis goes away while events wait: stalled, once the bound has passed.
    redis_server.stop()
    await system.publish([scheduled(meeting_id=3, organization_id=5)])
    system.wait_for(lambda: projector.health()[0] == 503, "the projector to report a stall")
    assert projector.health()[1]["state"] == "stalled"

    # Redis comes back (empty: as restored, with the generation it served).
    redis_server.start()
    with Redis.from_url(redis_server.url) as redis:
        control = Control(system.namespace)
        redis.set(control.generations, "1")
        redis.set(control.current, "1")
    system.wait_for(lambda: projector.health()[0] == 200, "the projector to recover")
    await system.wait_caught_up()
    system.wait_for(lambda: projector.health()[1]["state"] == "idle", "the projector to be idle")
    # Redis came back without what was applied before: healing applies it again
    # (docs/healing.md), so the first two meetings count twice, and it says so.
    samples = projector.metrics()
    assert samples[applied("meeting.scheduled")] >= 3 + 2
    reapplied = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "projector_reapplied_ranges_total" and value > 0
    }
    assert reapplied, "the lost writes were not counted as re-applied"
