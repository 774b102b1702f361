"""REDIS_URL forms and the key layout's hash slots: pure, no network."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from pydantic import ValidationError
from redis.crc import key_slot
from redis.exceptions import MaxConnectionsError

from api.settings import ApiSettings
from projector.settings import ProjectorSettings
from readmodel.connections import (
    BoundedRedisCluster,
    RedisUrlError,
    connect_redis,
    is_cluster_url,
    parse_cluster_url,
    validate_redis_url,
)
from readmodel.keys import Control, Keyspace


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_a_cluster_url_names_its_nodes_and_carries_options() -> None:
    url = "redis+cluster://user:p%40ss@10.0.0.1:7000,redis-b,[::1]:7002/0?socket_timeout=2"

    parsed = parse_cluster_url(url)

    assert parsed.nodes == (("10.0.0.1", 7000), ("redis-b", 6379), ("::1", 7002))
    assert parsed.options == {"username": "user", "password": "p@ss", "socket_timeout": 2.0}
    assert parse_cluster_url("rediss+cluster://h:1").options == {"ssl": True}
    assert is_cluster_url("REDIS+CLUSTER://h") and not is_cluster_url("redis://h:6379/0")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster://h:7000/1", "database 0 only"),
        ("redis+cluster://h:7000,:7001", "without a host"),
        ("redis+cluster://h:port", "bad port"),
        ("redis+cluster://h:70000", "bad port"),
        ("http://h:6379", "or redis"),
    ],
)
def test_a_bad_url_says_why(url: str, reason: str) -> None:
    with pytest.raises(RedisUrlError, match=reason):
        validate_redis_url(url)


def test_a_bad_url_stops_both_services_at_start_up() -> None:
    with pytest.raises(ValidationError, match="database 0 only"):
        ProjectorSettings(REDIS_URL="redis+cluster://h/2")
    with pytest.raises(ValidationError, match="database 0 only"):
        ApiSettings(REDIS_URL="redis+cluster://h/2")
    assert ApiSettings(REDIS_URL="redis+cluster://a:1,b:2").redis_url == "redis+cluster://a:1,b:2"


async def test_the_factory_makes_a_bounded_cluster_client_or_a_blocking_pool() -> None:
    cluster = connect_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2", max_connections=3)
    node = connect_redis("redis://127.0.0.1:1/0", max_connections=3)
    try:
        assert isinstance(cluster, BoundedRedisCluster)
        assert [(n.host, n.port) for n in cluster.nodes_manager.startup_nodes.values()] == [
            ("127.0.0.1", 1),
            ("127.0.0.1", 2),
        ]
        assert not isinstance(node, BoundedRedisCluster)
        assert node.connection_pool.max_connections == 3
        with pytest.raises(NotImplementedError):
            cluster.pipeline(transaction=True)
    finally:
        await cluster.aclose()
        await node.aclose()


async def test_a_cluster_client_waits_for_a_permit_then_gives_up() -> None:
    cluster = connect_redis("redis+cluster://127.0.0.1:1", max_connections=1, timeout=0.05)
    assert isinstance(cluster, BoundedRedisCluster)

    async def another_caller() -> None:
        async with cluster.permit():
            pass

    try:
        async with cluster.permit():
            async with cluster.permit():  # re-entrant in one task: a pipeline's redirections
                pass
            with pytest.raises(MaxConnectionsError, match=r"within 0\.05s"):
                await asyncio.create_task(another_caller(), context=contextvars.Context())
        await another_caller()  # released
    finally:
        await cluster.aclose()


# -- hash slots -----------------------------------------------------------------


def test_everything_one_request_reads_shares_the_organizations_slot() -> None:
    org = Keyspace("um", "7").org(5)
    request_keys = [org.start, org.end, org.doc, org.meta, org.tokens, org.series(412)]
    request_keys += [org.users]
    # what the organization scripts build from ``base`` (readmodel/lua/list_entries.lua, put.lua)
    built = [f"{org.base}:{suffix}" for suffix in ("gone", "links", "eap", "from:900", "users")]
    built += [f"{org.base}:s:41"]

    assert {slot(key) for key in request_keys + built} == {slot("{o5}")}


def test_a_meetings_state_shares_one_slot_and_control_keys_share_another() -> None:
    meeting = Keyspace("um", "7").meeting(9123)
    control = Control("um")
    control_keys = [
        control.current,
        control.building,
        control.generations,
        control.rebuild_lock,
        control.rebuild_progress,
        control.heartbeats,
    ]

    assert slot(meeting.state) == slot("{m9123}")  # the one key of a meeting
    assert {slot(key) for key in control_keys} == {slot("{control}")}
    assert Keyspace("um", "7").current == control.current


def test_organizations_spread_over_slots() -> None:
    keyspace = Keyspace("um", "1")
    assert len({slot(keyspace.org(org).start) for org in range(1, 101)}) > 90
