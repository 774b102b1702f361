"""The script loader against a real Redis: read-only scripts run by EVALSHA_RO,
so a Redis user allowed only reads (and EVALSHA_RO, and SCRIPT LOAD to bring a
forgotten script back) can read pages, on one node and on a cluster."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import redis as sync_redis
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from devstack.redis import RedisServer
from devstack.redis_cluster import LocalRedisCluster
from readmodel.connections import RedisClient, connect_redis
from readmodel.generations import create_first_generation
from readmodel.keys import Control
from readmodel.reader import Page, RedisPageReader
from readmodel.resp import PipelinedConnection
from readmodel.scripts import Script
from readmodel.writer import RedisReadModel
from tests.builders import registration_created, token_issued
from tests.integration.api.test_api import ORG, TOKEN, future_meeting
from tests.integration.helpers import changes_of

READER_RULES = ("on", ">pw", "~*", "+@read", "+evalsha_ro", "+script|load")
"""A user allowed only read commands, EVALSHA_RO and SCRIPT LOAD."""
CLUSTER_READER_RULES = (*READER_RULES, "+cluster|slots", "+command")
"""The same in a cluster, plus what redis-py's cluster client asks at start-up:
the slots (CLUSTER SLOTS) and the commands' key positions (COMMAND)."""


def test_the_read_scripts_are_read_only_and_the_others_are_not() -> None:
    assert [Script(name).command for name in ("read", "read_member")] == ["EVALSHA_RO"] * 2
    assert {Script(name).command for name in ("meeting", "token", "fail", "swap")} == {"EVALSHA"}
    assert Script("put", library="list_entries").source.startswith("#!lua\n")


async def write_model(redis: RedisClient, namespace: str) -> None:
    keyspace = await create_first_generation(redis, namespace)
    events = [token_issued(ORG, TOKEN), future_meeting(1), registration_created(1, 1, 77)]
    await RedisReadModel(redis, keyspace).apply(changes_of(events))


async def read_pages(reader: RedisPageReader) -> tuple[Page, Page]:
    now_ms = time.time_ns() // 1_000_000
    organization = await reader.page(ORG, TOKEN, None, now_ms, 0, 10)
    member = await reader.page(ORG, TOKEN, None, now_ms, 0, 10, member_id=77)
    assert isinstance(organization, Page) and isinstance(member, Page)
    return organization, member


@asynccontextmanager
async def reader_of(url: str, namespace: str, fast: bool) -> AsyncIterator[RedisPageReader]:
    redis = connect_redis(url)
    connection = PipelinedConnection(url, 5.0) if fast else None
    try:
        yield RedisPageReader(redis, namespace, connection)
    finally:
        if connection is not None:
            await connection.aclose()
        await redis.aclose()


@pytest.mark.parametrize("fast", [False, True], ids=["redis-py", "pipelined"])
async def test_a_read_only_user_reads_pages_on_one_node(
    redis_server: RedisServer, namespace: str, fast: bool
) -> None:
    async with Redis.from_url(redis_server.url) as admin:
        await write_model(admin, namespace)
        await admin.execute_command("ACL", "SETUSER", "reader", "reset", *READER_RULES)
        await admin.script_flush()  # the reader loads its scripts itself
    url = f"redis://reader:pw@{redis_server.host}:{redis_server.port}/0"

    async with reader_of(url, namespace, fast) as reader:
        organization, member = await read_pages(reader)
        assert (organization.total_items, member.total_items) == (1, 1)
        with pytest.raises(NoPermissionError):  # and it cannot write
            await reader.redis.set(Control(namespace).current, "2")


async def test_a_read_only_user_reads_pages_on_a_cluster(
    redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    user = f"reader-{namespace}"
    set_user_on_every_node(redis_cluster, user, CLUSTER_READER_RULES)
    admin = connect_redis(redis_cluster.url)
    try:
        await write_model(admin, namespace)
        await admin.script_flush()  # on every primary: the reader loads its scripts itself
        nodes = ",".join(redis_cluster.addresses)
        async with reader_of(f"redis+cluster://{user}:pw@{nodes}", namespace, False) as reader:
            organization, member = await read_pages(reader)
            assert (organization.total_items, member.total_items) == (1, 1)
            with pytest.raises(NoPermissionError):
                await reader.redis.set(Control(namespace).current, "2")
    finally:
        set_user_on_every_node(redis_cluster, user, None)
        async for key in admin.scan_iter(match=f"{namespace}:*", count=1000):
            await admin.unlink(key)
        await admin.aclose()


def set_user_on_every_node(
    cluster: LocalRedisCluster, user: str, rules: Sequence[str] | None
) -> None:
    """ACL rules are each node's own: set (or, with None, delete) the user on each."""
    for node in cluster.nodes:
        with sync_redis.Redis(node.host, node.port, socket_timeout=5) as client:
            if rules is None:
                client.execute_command("ACL", "DELUSER", user)
            else:
                client.execute_command("ACL", "SETUSER", user, "reset", *rules)
