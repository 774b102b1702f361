"""The answer cache never serves a stale or wrong answer (``api/cache.py``, ``api/tracking.py``).

Two apps on the same Redis: one with the cache, one without. After every
write (through the projector's store, or straight to a key), each cached
answer must equal the uncached answer read after it: status, headers, body.
Each test also checks that the cache did answer (hits), so that it tests the
cache and not the path around it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from api.app import Api, create_app
from api.cache import AnswerCache
from api.settings import ApiSettings
from events.times import wall_clock_ms
from readmodel.keys import Keyspace, entry
from tests.builders import (
    Event,
    at,
    canceled,
    eap_linked,
    eap_unlinked,
    leader,
    registration_canceled,
    registration_created,
    scheduled,
    token_issued,
    token_revoked,
    updated,
)
from tests.integration.api.test_api import (
    DAY_2099,
    HOUR_MS,
    ORG,
    PATH,
    TOKEN,
    ReadModel,
    bearer,
    future_meeting,
)

MEMBER = 77
MEMBER_PATH = f"/api/v2/organizations/{ORG}/members/{MEMBER}/upcoming_meetings"
URLS = [
    PATH,
    PATH + "?meeting_series_id=412",
    PATH + "?page=2&items=2",
    PATH + "?meeting_series_id=x",
    MEMBER_PATH,
    MEMBER_PATH + "?meeting_series_id=412&items=1",
]


class Clock:
    """The API's clock, moved by the test."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@asynccontextmanager
async def serving(
    redis_url: str,
    prefix: str,
    *,
    cache: bool = True,
    clock: Callable[[], int] | None = None,
    peer: tuple[str, int] = ("127.0.0.1", 123),
    **settings: Any,
) -> AsyncIterator[tuple[Api, httpx.AsyncClient]]:
    """An app (its lifespan run) and a client of it from ``peer``; with the cache,
    once it tracks. No limit on failed authentications unless asked."""
    settings.setdefault("auth_failure_limit", 0)
    app = create_app(
        ApiSettings(
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=prefix,
            generation_refresh_s=0.1,
            ready_max_staleness_s=0,
            cache=cache,
            **settings,
        )
    )
    if clock is not None:
        app.lists.clock = clock
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=peer), base_url="http://test"
        ) as client,
    ):
        if cache or app.lists.tracker is not None:
            await tracking(app)
        yield app, client


async def tracking(app: Api) -> None:
    tracker = app.lists.tracker
    assert tracker is not None
    async with asyncio.timeout(10):
        await tracker.ready.wait()


def cache_of(app: Api) -> AnswerCache:
    cache = app.lists.cache
    assert isinstance(cache, AnswerCache)
    return cache


async def same_answers(
    cached: httpx.AsyncClient, uncached: httpx.AsyncClient, token: str = TOKEN
) -> None:
    """Every URL, twice from the cached app (the second may be a hit), once uncached."""
    for url in URLS:
        for _ in range(2):
            got = await cached.get(url, headers=bearer(token))
            expected = await uncached.get(url, headers=bearer(token))
            assert (got.status_code, got.headers.raw, got.content) == (
                expected.status_code,
                expected.headers.raw,
                expected.content,
            ), url


def random_event(rng: random.Random, versions: dict[int, int], registrations: list[int]) -> Event:
    meeting = rng.randint(1, 8)
    kind = rng.random()
    if kind < 0.35 or meeting not in versions:
        version = versions[meeting] = versions.get(meeting, 0) + 1
        start = DAY_2099 + rng.randint(0, 20) * HOUR_MS
        make = scheduled if version == 1 else updated
        return make(
            meeting,
            ORG if meeting < 7 else 8,  # 7 and 8 are meetings of an HPC organization
            version,
            start_time=at(start),
            end_time=at(start + HOUR_MS),
            meeting_series_id=rng.choice([412, 413, None]),
            group_leader=leader(rng.choice([MEMBER, 4501])),
            co_leader_ids=rng.choice([[], [MEMBER]]),
            max_attendees=rng.randint(5, 15),
        )
    if kind < 0.65:
        registration = len(registrations) + 1
        registrations.append(meeting)
        return registration_created(registration, meeting, rng.choice([MEMBER, 100, 101]))
    if kind < 0.8 and registrations:
        registration = rng.randint(1, len(registrations))
        return registration_canceled(registration, registrations[registration - 1], MEMBER)
    if kind < 0.9:
        versions[meeting] += 1
        return canceled(meeting, ORG if meeting < 7 else 8, versions[meeting])
    link = rng.random() < 0.6
    versions[-1] = versions.get(-1, 0) + 1
    return (eap_linked if link else eap_unlinked)(ORG, 8, versions[-1])


async def test_every_cached_answer_equals_an_uncached_read_after_each_write(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    model = await ReadModel(redis, namespace).serve()
    rng = random.Random(4)
    versions: dict[int, int] = {}
    registrations: list[int] = []
    async with (
        serving(redis_url, namespace) as (app, cached),
        serving(redis_url, namespace, cache=False) as (_, uncached),
    ):
        await same_answers(cached, uncached)
        for _ in range(60):
            await model.publish(random_event(rng, versions, registrations))
            await same_answers(cached, uncached)
        # A raw write to a document the projector would never make alone.
        keys = model.keyspace.org(ORG)
        [first] = await redis.zrange(keys.start, 0, 0) or [b"0"]
        await redis.hset(keys.doc, first, b'{"id":0}')
        await same_answers(cached, uncached)
        assert cache_of(app).hits > 100


async def test_a_meeting_leaves_a_cached_answer_the_instant_it_ends(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    now = wall_clock_ms()
    clock = Clock(now)
    model = await ReadModel(redis, namespace).serve()
    await model.publish(
        scheduled(1, ORG, 1, start_time=at(now - HOUR_MS), end_time=at(now + 60_000)),
        future_meeting(2),
    )
    async with (
        serving(redis_url, namespace, clock=clock) as (app, cached),
        serving(redis_url, namespace, cache=False, clock=clock) as (_, uncached),
    ):
        for _ in range(3):
            body = (await cached.get(PATH, headers=bearer())).json()
            assert [m["id"] for m in body["meetings"]] == [1, 2]
        hits = cache_of(app).hits
        assert hits >= 2

        clock.now_ms = now + 59_999
        assert (await cached.get(PATH, headers=bearer())).json()["total_items"] == 2
        assert cache_of(app).hits == hits + 1

        clock.now_ms = now + 60_000  # meeting 1 ends: no write to Redis at all
        body = (await cached.get(PATH, headers=bearer())).json()
        assert (body["total_items"], [m["id"] for m in body["meetings"]]) == (1, [2])
        await same_answers(cached, uncached)

        clock.now_ms = now  # a clock that goes back is not served a later answer
        body = (await cached.get(PATH, headers=bearer())).json()
        assert body["total_items"] == 2


async def test_a_killed_tracking_connection_turns_the_cache_off_until_it_is_back(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    model = await ReadModel(redis, namespace).serve(future_meeting(1))
    async with (
        serving(redis_url, namespace) as (app, cached),
        serving(redis_url, namespace, cache=False) as (_, uncached),
    ):
        await same_answers(cached, uncached)
        tracker = app.lists.tracker
        for round_ in range(3):
            await redis.client_kill_filter(_id=tracker.client_id)
            # Written while the API may not have noticed the kill yet.
            await model.publish(future_meeting(10 + round_, hour=round_ + 1))
            await same_answers(cached, uncached)
            assert not tracker.healthy

            await tracking(app)
            hits = cache_of(app).hits
            await same_answers(cached, uncached)
            assert cache_of(app).hits > hits  # the cache is back


async def test_a_revoked_token_is_refused_at_once(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    model = await ReadModel(redis, namespace).serve(future_meeting(1))
    async with (
        serving(redis_url, namespace) as (app, cached),
        serving(redis_url, namespace, cache=False) as (_, uncached),
    ):
        await same_answers(cached, uncached)
        assert cache_of(app).hits > 0
        await model.publish(token_revoked(ORG, TOKEN))
        response = await cached.get(PATH, headers=bearer())
        assert (response.status_code, response.json()) == (401, {"error": "Unauthorized Access"})
        await same_answers(cached, uncached)
        await model.publish(token_issued(ORG, "another-token"))
        await same_answers(cached, uncached, token="another-token")


async def test_a_generation_swap_is_served_at_once(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    first = await ReadModel(redis, namespace).serve(future_meeting(1))
    async with (
        serving(redis_url, namespace) as (app, cached),
        serving(redis_url, namespace, cache=False) as (_, uncached),
    ):
        for _ in range(2):
            body = (await cached.get(PATH, headers=bearer())).json()
            assert [m["id"] for m in body["meetings"]] == [1]
        assert cache_of(app).hits > 0

        second = ReadModel(redis, namespace)
        second.keyspace = Keyspace(namespace, "2")
        second.store = type(first.store)(redis, second.keyspace)
        await second.publish(token_issued(ORG, TOKEN), future_meeting(2))
        await redis.set(second.keyspace.current, "2")  # the swap

        body = (await cached.get(PATH, headers=bearer())).json()
        assert [m["id"] for m in body["meetings"]] == [2]
        await tracking(app)  # tracks the new generation
        await same_answers(cached, uncached)
        hits = cache_of(app).hits
        await second.publish(registration_created(1, 2, 100))
        await same_answers(cached, uncached)
        assert cache_of(app).hits > hits


async def test_the_cache_is_bounded(redis: Redis, redis_url: str, namespace: str) -> None:
    await ReadModel(redis, namespace).serve(*(future_meeting(n, hour=n) for n in range(1, 10)))
    async with serving(redis_url, namespace, cache_max_entries=3) as (app, cached):
        for page in range(1, 10):
            response = await cached.get(PATH, headers=bearer(), params={"items": 1, "page": page})
            assert response.json()["meetings"][0]["id"] == page
        assert len(cache_of(app)) == 3


@pytest.mark.parametrize("cache", [True, False])
async def test_api_cache_switches_the_cache(
    redis: Redis, redis_url: str, namespace: str, cache: bool
) -> None:
    await ReadModel(redis, namespace).serve(future_meeting(1))
    async with serving(redis_url, namespace, cache=cache) as (app, client):
        for _ in range(2):
            assert (await client.get(PATH, headers=bearer())).status_code == 200
        assert (app.lists.cache is not None) is cache


async def test_a_write_is_seen_even_before_the_api_has_read_its_invalidation(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    """The read barrier: the write is made by a blocking client, so the event loop
    cannot read the invalidation before the request starts; the request must
    still see the write."""
    model = await ReadModel(redis, namespace).serve(future_meeting(1))
    keys = model.keyspace.org(ORG)
    scope = {
        "type": "http",
        "path": PATH,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
        "client": ("127.0.0.1", 1),
    }
    async with serving(redis_url, namespace) as (app, _client):
        lists = app.lists
        for _ in range(2):
            _status, _headers, body = await lists.respond(scope, str(ORG), None)
        assert cache_of(app).hits == 1
        with SyncRedis.from_url(redis_url) as blocking:
            for n in range(5):
                document = b'{"id":%d}' % (1000 + n)
                blocking.hset(keys.doc, entry(1), document)  # the loop does not run meanwhile
                status, _headers, body = await lists.respond(scope, str(ORG), None)
                assert (status, document in body) == (200, True)
                status, _headers, body = await lists.respond(scope, str(ORG), None)
                assert (status, document in body) == (200, True)
        assert cache_of(app).hits == 6
