"""A client that keeps failing authentication is blocked (``api/ratelimit.py``).

Past ``API_AUTH_FAILURE_LIMIT`` failures within the window, every request of
that client to the two lists gets 429 with ``Retry-After``, whatever its token,
until the block ends; other clients are not affected, and every API process
agrees.
"""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest
from redis.asyncio import Redis

from api.app import Api
from api.ratelimit import FailureLimiter
from events.times import wall_clock_ms
from tests.integration.api.test_api import ORG, PATH, TOKEN, ReadModel, bearer, future_meeting
from tests.integration.api.test_cache import Clock, serving

MEMBER_PATH = f"/api/v2/organizations/{ORG}/members/77/upcoming_meetings"
TOO_MANY = {"error": "Too Many Requests"}
LIMITS = {"auth_failure_limit": 20, "auth_failure_window_s": 10, "auth_block_s": 60}
ATTACKER, NEIGHBOUR = ("203.0.113.9", 5000), ("198.51.100.7", 5000)


def client_of(app: Api, peer: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=peer), base_url="http://test"
    )


def assert_blocked(response: httpx.Response, retry_after: str = "60") -> None:
    assert (response.status_code, response.json()) == (429, TOO_MANY)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == retry_after


async def test_thousands_of_bad_tokens_get_429_until_the_block_ends(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await ReadModel(redis, namespace).serve(future_meeting(1))
    clock = Clock(wall_clock_ms())
    async with (
        serving(redis_url, namespace, clock=clock, peer=ATTACKER, **LIMITS) as (app, attacker),
        client_of(app, NEIGHBOUR) as neighbour,
    ):
        statuses = []
        for n in range(2000):
            response = await attacker.get(PATH, headers=bearer(f"bad-token-{n}"))
            statuses.append(response.status_code)
        assert statuses == [401] * 20 + [429] * 1980
        assert_blocked(response)

        assert_blocked(await attacker.get(PATH, headers=bearer()))  # even with a good token
        assert_blocked(await attacker.get(MEMBER_PATH, headers=bearer()))
        assert_blocked(await attacker.get(PATH))
        assert (await attacker.get("/healthz")).status_code == 200  # only the two lists

        assert (await neighbour.get(PATH, headers=bearer())).status_code == 200
        assert (await neighbour.get(PATH, headers=bearer("bad"))).status_code == 401

        clock.now_ms += 59_001
        assert_blocked(await attacker.get(PATH, headers=bearer()), retry_after="1")
        clock.now_ms += 999
        assert (await attacker.get(PATH, headers=bearer())).status_code == 200
        # Counting starts again from nothing.
        for _ in range(19):
            assert (await attacker.get(PATH, headers=bearer("bad"))).status_code == 401
        assert (await attacker.get(PATH, headers=bearer())).status_code == 200


async def test_failures_below_the_limit_are_not_blocked(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await ReadModel(redis, namespace).serve(future_meeting(1))
    async with serving(redis_url, namespace, peer=ATTACKER, **LIMITS) as (_app, attacker):
        for _ in range(19):
            assert (await attacker.get(PATH, headers=bearer("bad"))).status_code == 401
        assert (await attacker.get(PATH, headers=bearer(TOKEN))).status_code == 200


async def test_every_api_process_agrees_on_a_block(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    await ReadModel(redis, namespace).serve(future_meeting(1))
    async with (
        serving(redis_url, namespace, peer=ATTACKER, **LIMITS) as (first, on_first),
        serving(redis_url, namespace, peer=ATTACKER, cache=False, **LIMITS) as (second, on_second),
    ):
        assert (await on_second.get(PATH, headers=bearer())).status_code == 200
        for _ in range(20):
            assert (await on_first.get(PATH, headers=bearer("bad"))).status_code == 401

        # The second process (without a cache) hears of the block.
        limiter = second.lists.limiter
        assert limiter is not None
        await wait_for_block(limiter, ATTACKER[0])
        assert_blocked(await on_second.get(PATH, headers=bearer()))

        # A process started after the block reads it at start-up.
        async with serving(redis_url, namespace, peer=ATTACKER, **LIMITS) as (_third, on_third):
            assert_blocked(await on_third.get(PATH, headers=bearer()))
            async with client_of(first, NEIGHBOUR) as neighbour:
                assert (await neighbour.get(PATH, headers=bearer())).status_code == 200


async def wait_for_block(limiter: FailureLimiter, client: str) -> None:
    """Until the published block arrives (a few milliseconds at most)."""
    async with asyncio.timeout(10):
        while client not in limiter.blocks:  # noqa: ASYNC110 (set by another task)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", None, "10.0.0.2"),  # a trusted proxy with no header: itself
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.3", "198.51.100.7"),  # spoofed first hop
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # not a proxy: the header is ignored
    ],
)
def test_the_client_behind_trusted_proxies(peer: str, forwarded: str | None, client: str) -> None:
    limiter = FailureLimiter(
        None,  # type: ignore[arg-type]
        "um",
        limit=20,
        window_s=10,
        block_s=60,
        trusted_proxies=[ipaddress.ip_network("10.0.0.0/8")],
    )
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    assert limiter.client_of({"client": (peer, 1), "headers": headers}) == client


async def test_the_openapi_document_tells_of_the_429(redis_url: str, namespace: str) -> None:
    async with serving(redis_url, namespace, cache=False) as (_app, client):
        document = (await client.get("/openapi.json")).json()
    for path in (
        "/api/v2/organizations/{organization_id}/upcoming_meetings",
        "/api/v2/organizations/{organization_id}/members/{member_id}/upcoming_meetings",
    ):
        too_many = document["paths"][path]["get"]["responses"]["429"]
        assert "Retry-After" in too_many["headers"]
