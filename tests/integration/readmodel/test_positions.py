"""Positions of a generation on real Redis: one node, and a Redis Cluster of 3 primaries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from devstack.redis import PersistentRedisServer
from devstack.redis_cluster import LocalRedisCluster
from readmodel.connections import RedisClient, connect_redis
from readmodel.keys import Control
from readmodel.positions import (
    PositionBook,
    ReplicationTimeout,
    Run,
    least,
    parse_positions,
    runs_of,
)

T = "meeting-events"


def run(first: int, next_: int, partition: int = 0) -> Run:
    return Run(T, partition, first, next_)


def test_runs_split_where_offsets_are_not_consecutive() -> None:
    delivered = [(T, 0, 5), (T, 1, 9), (T, 0, 6), (T, 0, 7), (T, 0, 2), (T, 0, 3), (T, 1, 10)]
    assert runs_of(delivered) == [run(5, 8), Run(T, 1, 9, 11), run(2, 4)]


def test_least_counts_a_node_without_positions_as_nothing_applied() -> None:
    assert least([None, None]) is None
    assert least([{(T, 0): 7, (T, 1): 3}, {(T, 0): 5}]) == {(T, 0): 5, (T, 1): 0}
    assert least([{(T, 0): 7}, None]) == {(T, 0): 0}


@pytest.fixture
async def book(redis: RedisClient, namespace: str) -> AsyncIterator[PositionBook]:
    positions = PositionBook(redis, Control(namespace).keyspace("1"))
    try:
        yield positions
    finally:
        await positions.aclose()


async def test_a_position_grows_only_by_runs_that_touch_it(book: PositionBook) -> None:
    assert await book.applied() is None
    assert await book.record([run(0, 10)]) == {(T, 0): 10}
    assert await book.record([run(5, 12)]) == {(T, 0): 12}  # applied again: no harm
    assert await book.record([run(3, 6)]) == {(T, 0): 12}  # a zombie's old batch
    assert await book.record([run(20, 25)]) == {(T, 0): 12}  # past a gap: not claimed
    assert await book.record([run(25, 30)]) == {(T, 0): 12}
    assert await book.applied() == {(T, 0): 12}
    assert await book.record([run(12, 21)]) == {(T, 0): 30}  # the gap filled: joined
    assert await book.record([run(40, 41), run(30, 35)]) == {(T, 0): 35}


async def test_a_node_that_lost_its_later_records_is_behind(
    book: PositionBook, redis: RedisClient
) -> None:
    await book.record([run(0, 10), run(0, 4, partition=1)])
    (node,) = await book.nodes()
    await redis.hset(node.key, f"{T}:0", 6)  # as if restored from an older snapshot
    assert await book.applied() == {(T, 0): 6, (T, 1): 4}
    assert await book.record([run(10, 15)]) == {(T, 0): 6}  # not claimed past the loss


async def test_adopt_fills_only_what_no_record_says(book: PositionBook) -> None:
    await book.record([run(0, 10)])
    await book.adopt({(T, 0): 50, (T, 1): 7})
    assert await book.applied() == {(T, 0): 10, (T, 1): 7}


async def test_each_record_is_published(book: PositionBook, redis_url: str, namespace: str) -> None:
    subscriber = Redis.from_url(redis_url)
    pubsub = subscriber.pubsub()
    await pubsub.subscribe(Control(namespace).positions_channel)
    try:
        await pubsub.get_message(timeout=1)  # the subscription's confirmation
        await book.record([run(0, 3), run(0, 9, partition=2)])
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        assert message["data"] == f"1 p0 {T}:0:3,{T}:2:9".encode()
    finally:
        await pubsub.aclose()
        await subscriber.aclose()


async def test_waiting_for_a_replica_that_is_not_there_times_out(
    redis: RedisClient, namespace: str
) -> None:
    book = PositionBook(redis, Control(namespace).keyspace("1"), min_replicas=1, wait_timeout_ms=50)
    try:
        with pytest.raises(ReplicationTimeout, match="0 of 1 replicas"):
            await book.record([run(0, 3)])
    finally:
        await book.aclose()


async def test_a_cluster_has_one_positions_key_per_primary(
    redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    client = connect_redis(redis_cluster.url)
    assert isinstance(client, RedisCluster)
    book = PositionBook(client, Control(namespace).keyspace("1"))
    try:
        await book.record([run(0, 10), run(0, 5, partition=1)])
        nodes = await book.nodes()
        owners = {
            client.nodes_manager.get_node_from_slot(client.keyslot(node.key)).name for node in nodes
        }
        assert len(nodes) == len(owners) == 3
        assert await book.read() == {node.tag: {(T, 0): 10, (T, 1): 5} for node in nodes}
        # One primary loses its later records: the read model is as far as it is.
        lagging = nodes[1]
        await lagging.client.hset(lagging.key, f"{T}:0", 4)
        assert await book.applied() == {(T, 0): 4, (T, 1): 5}
        # A primary without the hash at all has applied nothing.
        await lagging.client.delete(lagging.key)
        assert await book.applied() == {(T, 0): 0, (T, 1): 0}
        for node in nodes:
            assert parse_positions(await node.client.hgetall(node.key)) in (
                {},
                {(T, 0): 10, (T, 1): 5},
            )
    finally:
        await book.aclose()
        async for key in client.scan_iter(match=f"{namespace}:*"):
            await client.delete(key)
        await client.aclose()
        await asyncio.sleep(0)


async def test_a_record_waits_for_a_replica_to_have_it(tmp_path: Path, namespace: str) -> None:
    with (
        PersistentRedisServer(log_dir=tmp_path / "primary") as primary,
        PersistentRedisServer(
            log_dir=tmp_path / "replica", extra=["--replicaof", primary.host, str(primary.port)]
        ) as replica,
    ):
        client = connect_redis(primary.url)
        book = PositionBook(
            client, Control(namespace).keyspace("1"), min_replicas=1, wait_timeout_ms=5_000
        )
        try:
            await wait_until_synced(replica)
            assert await book.record([run(0, 7)]) == {(T, 0): 7}
            # Confirmed: the replica has the record (and so every write before it).
            async with Redis(host=replica.host, port=replica.port) as on_replica:
                (key,) = [k async for k in on_replica.scan_iter(match=f"{namespace}:*")]
                assert await on_replica.hget(key, f"{T}:0") == b"7"
        finally:
            await book.aclose()
            await client.aclose()


async def wait_until_synced(replica: PersistentRedisServer) -> None:
    async with Redis(host=replica.host, port=replica.port) as client:
        for _ in range(200):
            if (await client.info("replication")).get("master_link_status") == "up":
                return
            await asyncio.sleep(0.05)
    pytest.fail("the replica did not sync")
