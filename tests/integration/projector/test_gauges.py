"""The read model's gauges, read from a real Redis node and a real Redis Cluster."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from devstack.redis_cluster import LocalRedisCluster
from projector.worker.gauges import ReadModelGauges
from readmodel.connections import RedisClient, connect_redis
from readmodel.keys import Control


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def fill(redis: RedisClient, prefix: str) -> None:
    control = Control(prefix)
    keyspace = control.keyspace("1")
    await redis.set(control.current, "1")
    await redis.sadd(keyspace.orgs, "5", "6")
    await redis.zadd(keyspace.org(5).start, {"a1": 1, "a2": 2})
    await redis.zadd(keyspace.org(6).start, {"a3": 3})
    await redis.hset(
        control.heartbeats,
        mapping={"w1": json.dumps({"at_ms": 7_000}), "w2": json.dumps({"at_ms": 9_000})},
    )


async def test_memory_lists_heartbeats_and_a_paused_rebuild(
    redis: RedisClient, namespace: str
) -> None:
    await fill(redis, namespace)
    control = Control(namespace)
    await redis.set(control.building, "2")
    await redis.hset(
        control.rebuild_progress,
        mapping={"events_done": 40, "events_total": 100, "updated_ms": 123_000},
    )

    await ReadModelGauges(namespace, count_every_s=0).measure(redis)

    assert sample("readmodel_organizations") == 2
    assert sample("readmodel_listed_meetings") == 3
    assert sample("readmodel_heartbeat_timestamp_seconds") == 9.0
    assert sample("projector_rebuild_in_progress") == 1
    assert sample("projector_rebuild_running") == 0  # no lock: paused
    assert (sample("projector_rebuild_events_done"), sample("projector_rebuild_events_total")) == (
        40,
        100,
    )
    assert sample("projector_rebuild_updated_timestamp_seconds") == 123.0
    kwargs = redis.connection_pool.connection_kwargs  # type: ignore[union-attr]
    node = f"{kwargs['host']}:{kwargs['port']}"
    assert (sample("readmodel_redis_used_memory_bytes", node=node) or 0) > 0
    assert sample("readmodel_redis_maxmemory_bytes", node=node) is not None
    assert (sample("readmodel_redis_keys", node=node) or 0) >= 6

    await redis.delete(control.building)
    await ReadModelGauges(namespace, count_every_s=0).measure(redis)
    assert sample("projector_rebuild_in_progress") == 0


async def test_every_primary_of_a_cluster_is_measured(
    redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    cluster = connect_redis(redis_cluster.url)
    try:
        await fill(cluster, namespace)
        await ReadModelGauges(namespace, count_every_s=0).measure(cluster)
        nodes = {
            sample.labels["node"]
            for family in REGISTRY.collect()
            if family.name == "readmodel_redis_used_memory_bytes"
            for sample in family.samples
        }
        primaries = {node.name for node in cluster.get_primaries()}  # type: ignore[union-attr]
        assert primaries <= nodes
        assert sample("readmodel_listed_meetings") == 3
    finally:
        await cluster.aclose()
