"""A Redis Cluster primary other than the tracked one restarts empty: the API hears
of it (``api/primaries.py``) and no longer counts what that primary recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.redis_cluster import LocalRedisCluster
from events.consistency import parse_token
from readmodel.connections import connect_redis
from tests.builders import registration_created
from tests.integration.api.test_api import PATH, Api, ReadModel, future_meeting
from tests.integration.api.test_consistency import (
    MEMBER,
    TOKEN_HEADER,
    TOPICS,
    asking,
    record,
)
from tests.integration.helpers import running_api

WRITES = (("registration-events", 2, 0), ("registration-events", 2, 1))
TOKEN = "registration-events:2:1"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(tmp_path / "cluster") as cluster:
        yield cluster


async def test_a_token_is_not_answered_from_a_primary_that_restarted_without_its_writes(
    cluster: LocalRedisCluster, namespace: str
) -> None:
    """The token's writes are recorded on every primary and answered. A primary
    that is neither the tracked one (the first of the URL) nor the one holding
    the served generation restarts empty; its data is written again (so that
    the list can be read), but not its record: the token gets a 503 with the
    position reached, not a 200, until the record is made again."""
    redis = connect_redis(cluster.url)
    try:
        model = ReadModel(redis, namespace)  # type: ignore[arg-type]
        events = (future_meeting(1), registration_created(1, 1, MEMBER))
        await model.serve(*events)
        await record(model, *WRITES)
        current = cluster.primary_of(model.keyspace.current)
        (victim, *_) = [n for n in cluster.nodes[1:] if n is not current]

        async with running_api(cluster.url, namespace, consistency_max_wait_ms=1500) as client:
            api = Api(client)
            assert (await api.get(PATH, asking(TOKEN))).status_code == 200

            await asyncio.to_thread(victim.kill)
            await asyncio.to_thread(victim.start)
            await asyncio.sleep(1.5)  # the watcher looks every 0.5 s
            await model.serve(*events)  # the data again, not its record

            response = await api.get(PATH, asking(TOKEN, Prefer="wait=0"))
            assert response.status_code == 503, response.text
            reached = parse_token(response.headers[TOKEN_HEADER], TOPICS)
            assert not reached.covers(parse_token(TOKEN, TOPICS))

            waiting = asyncio.create_task(api.get(PATH, asking(TOKEN)))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await record(model, *WRITES)
            response = await waiting
            assert response.status_code == 200, response.text
            assert parse_token(response.headers[TOKEN_HEADER], TOPICS).covers(
                parse_token(TOKEN, TOPICS)
            )
    finally:
        await redis.aclose()
