"""The API's metrics and readiness, and the projector's heartbeats, against real Redis."""

from __future__ import annotations

import asyncio
import json
import time

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from devstack.redis import RedisServer
from events.times import wall_clock_ms
from projector.worker.health import WorkerHealth, heartbeat
from readmodel.heartbeats import FORGET_AFTER_MS, HeartbeatWriter
from readmodel.keys import Control, Keyspace
from readmodel.writer import RedisReadModel
from tests.builders import token_issued
from tests.integration.helpers import changes_of, running_api

TOKEN = "token-of-5"
UPCOMING = "/api/v2/organizations/{organization_id}/upcoming_meetings"
CACHE_S = 1.0  # how long the API keeps its verdict on the heartbeats


async def serve(redis: Redis, prefix: str) -> None:
    keyspace = Keyspace(prefix, "1")
    await redis.set(keyspace.current, keyspace.generation)
    await RedisReadModel(redis, keyspace).apply(changes_of([token_issued(5, TOKEN)]))


async def beat(redis: Redis, prefix: str, worker: str, at_ms: int, state: str = "idle") -> None:
    document = {"worker": worker, "at_ms": at_ms, "state": state}
    await redis.hset(Control(prefix).heartbeats, worker, json.dumps(document))


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests(route: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "api_requests_total", (("route", route), ("status", status))


async def test_the_api_counts_requests_by_route_template_and_status(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await serve(redis, namespace)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running_api(redis_url, namespace) as api:
        before = scrape((await api.get("/metrics")).text)
        statuses = [
            (await api.get("/api/v2/organizations/5/upcoming_meetings", headers=auth)).status_code,
            (await api.get("/api/v2/organizations/6/upcoming_meetings", headers=auth)).status_code,
            (await api.get("/api/v2/organizations/5/upcoming_meetings")).status_code,
            (
                await api.get(
                    "/api/v2/organizations/5/upcoming_meetings?meeting_series_id=x", headers=auth
                )
            ).status_code,
            (await api.get("/no/such/path")).status_code,
        ]
        response = await api.get("/metrics")
    assert statuses == [200, 401, 401, 422, 404]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = scrape(response.text)

    def delta(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta(requests(UPCOMING, "200")) == 1
    assert delta(requests(UPCOMING, "401")) == 2
    assert delta(requests(UPCOMING, "422")) == 1
    assert delta(requests("other", "404")) == 1
    assert delta(("api_request_seconds_count", (("route", UPCOMING),))) == 4
    assert not any(
        "organizations/5" in dict(labels).get("route", "") for _, labels in after
    )  # raw paths never become labels


async def test_readiness_follows_the_projectors_heartbeats(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await serve(redis, namespace)
    async with running_api(redis_url, namespace, max_staleness_s=5) as api:
        no_worker = await api.get("/readyz")
        assert (no_worker.status_code, no_worker.json()) == (503, {"error": "Service Unavailable"})
        assert no_worker.headers["retry-after"] == "1"

        await beat(redis, namespace, "host:1", wall_clock_ms())
        await asyncio.sleep(CACHE_S + 0.1)
        ready = await api.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "generation": "1"})

        await beat(redis, namespace, "host:1", wall_clock_ms(), "stalled")
        await asyncio.sleep(CACHE_S + 0.1)
        assert (await api.get("/readyz")).status_code == 503

        await beat(redis, namespace, "host:1", wall_clock_ms() - 6_000)  # idle, but too long ago
        await asyncio.sleep(CACHE_S + 0.1)
        assert (await api.get("/readyz")).status_code == 503

        await beat(redis, namespace, "host:2", wall_clock_ms(), "progressing")  # another worker
        await asyncio.sleep(CACHE_S + 0.1)
        assert (await api.get("/readyz")).status_code == 200

        await redis.delete(Keyspace(namespace, "1").current)  # the read model is gone
        assert (await api.get("/readyz")).status_code == 503


async def test_without_a_bound_readiness_ignores_heartbeats(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await serve(redis, namespace)
    async with running_api(redis_url, namespace) as api:
        assert (await api.get("/readyz")).status_code == 200


async def test_a_heartbeat_is_written_and_ancient_ones_are_forgotten(
    redis: Redis, namespace: str
) -> None:
    await beat(redis, namespace, "gone:1", wall_clock_ms() - FORGET_AFTER_MS - 1_000)
    await beat(redis, namespace, "other:2", wall_clock_ms() - 1_000)
    health = WorkerHealth(60)
    health.applied(7, newest_event_ms=123)

    await HeartbeatWriter(namespace, "me:3", timeout_s=1).beat(redis, heartbeat("me:3", health))

    beats = await redis.hgetall(Control(namespace).heartbeats)
    assert sorted(beats) == [b"me:3", b"other:2"]
    mine = json.loads(beats[b"me:3"])
    assert set(mine) == {
        "worker",
        "at_ms",
        "last_applied_ms",
        "newest_event_ms",
        "events_applied",
        "state",
    }
    assert (mine["worker"], mine["events_applied"], mine["newest_event_ms"]) == ("me:3", 7, 123)
    assert mine["state"] == "idle"
    assert abs(mine["at_ms"] - wall_clock_ms()) < 5_000


async def test_a_heartbeat_without_redis_neither_raises_nor_waits(
    redis_server: RedisServer, namespace: str
) -> None:
    async with Redis.from_url(redis_server.url) as redis:
        redis_server.stop()
        started = time.monotonic()
        await HeartbeatWriter(namespace, "me:1", timeout_s=1).beat(redis, WorkerHealth(60))
        assert time.monotonic() - started < 3
