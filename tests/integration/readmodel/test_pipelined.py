"""The page scripts' pipelined connection (``readmodel/resp.py``) under faults."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from devstack.redis import RedisServer
from readmodel.resp import PipelinedConnection
from tests.builders import token_issued
from tests.integration.api.test_api import PATH, ReadModel, bearer, future_meeting, path
from tests.integration.api.test_cache import serving


async def test_concurrent_requests_each_get_their_own_answer(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    model = await ReadModel(redis, namespace).serve()
    orgs = range(10, 40)
    await model.publish(
        *(token_issued(org, f"token-{org}") for org in orgs),
        *(future_meeting(org * 100 + n, org, hour=n) for org in orgs for n in range(org % 4 + 1)),
    )
    # A generous timeout: 60 requests at once on a loaded machine are about
    # answers, not speed (a 503 here would be a timeout, not a mix-up).
    async with serving(redis_url, namespace, cache=False, redis_timeout_s=5) as (_app, client):
        responses = await asyncio.gather(
            *(
                client.get(path(org), headers=bearer(f"token-{org}"), params={"items": items})
                for org in orgs
                for items in (1, 2)
            )
        )
    answers = iter(responses)
    for org in orgs:
        for items in (1, 2):
            body = next(answers).json()
            assert body["total_items"] == org % 4 + 1
            assert [m["id"] for m in body["meetings"]] == [
                org * 100 + n for n in range(min(items, org % 4 + 1))
            ]


async def test_a_reply_too_late_is_a_503_and_the_next_request_gets_its_own(
    redis_server: RedisServer, namespace: str
) -> None:
    async with Redis.from_url(redis_server.url) as redis:
        await ReadModel(redis, namespace).serve(future_meeting(1))
        async with serving(redis_server.url, namespace, cache=False, redis_timeout_s=0.2) as (
            _app,
            client,
        ):
            assert (await client.get(PATH, headers=bearer())).status_code == 200
            await redis.client_pause(600)  # every client waits, this one too
            late = await client.get(PATH, headers=bearer(), params={"items": 1})
            assert (late.status_code, late.headers["retry-after"]) == (503, "1")
            await asyncio.sleep(0.7)
            # The late reply arrived meanwhile and was skipped: answers stay in step.
            for items in (2, 1, 3):
                body = (await client.get(PATH, headers=bearer(), params={"items": items})).json()
                assert body["items"] == items


async def test_a_late_reply_is_skipped_and_later_ones_reach_their_callers(
    redis_server: RedisServer,
) -> None:
    connection = PipelinedConnection(redis_server.url, timeout_s=1.0)
    try:
        assert await connection.call("ECHO", "first") == b"first"
        async with Redis.from_url(redis_server.url) as redis:
            await redis.client_pause(1500)  # every client waits, this one too
        with pytest.raises(RedisTimeoutError):
            await connection.call("ECHO", "late")
        # Sent while the late reply is still to come: each gets its own.
        assert await asyncio.gather(
            connection.call("ECHO", "second"), connection.call("ECHO", "third")
        ) == [b"second", b"third"]
    finally:
        await connection.aclose()
