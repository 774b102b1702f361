"""The read model on a real Redis Cluster of 3 primaries (``redis_cluster``).

The store's contract and laws run on the cluster too (test_writer.py). Here:
the API through the cluster, with an EAP organization and its HPC
organization on different primaries; a rebuild's swap and its clean-up of old
generations on every primary; status and verify; the guards (a ``redis://``
URL naming a cluster node, a script touching a key outside its slot, the
connection cap).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import MaxConnectionsError, ResponseError

from devstack.redis_cluster import LocalRedisCluster
from projector.commands.status import read_served
from projector.commands.verify import read_list
from readmodel.connections import (
    BoundedRedisCluster,
    RedisUrlError,
    check_redis,
    connect_redis,
)
from readmodel.generations import NotBuilding, delete_generation, delete_other_generations, swap
from readmodel.keys import Control, as_text
from readmodel.writer import RedisReadModel
from tests.builders import eap_linked, eap_unlinked, registration_created, token_issued
from tests.integration.api.test_api import (
    NOT_AUTHORIZED,
    ORG,
    OTHER_TOKEN,
    REVOKED_TOKEN,
    UNAUTHORIZED,
    ReadModel,
    api_of,
    bearer,
    future_meeting,
    path,
)
from tests.integration.helpers import RedisModel, changes_of, ids


@pytest.fixture
async def cluster(
    redis_cluster: LocalRedisCluster, namespace: str
) -> AsyncIterator[BoundedRedisCluster]:
    client = connect_redis(redis_cluster.url)
    assert isinstance(client, BoundedRedisCluster)
    await client.initialize()
    try:
        yield client
    finally:
        async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            await client.unlink(key)
        await client.aclose()


def primary_of(cluster: RedisCluster, key: str) -> str:
    return cluster.get_node_from_key(key).name


def on_another_primary(cluster: RedisCluster, prefix: str, org: int, candidates: range) -> int:
    """An organization whose keys live on another primary than ``org``'s."""
    keyspace = Control(prefix).keyspace("1")
    home = primary_of(cluster, keyspace.org(org).start)
    return next(c for c in candidates if primary_of(cluster, keyspace.org(c).start) != home)


# -- the API --------------------------------------------------------------------


async def test_the_api_through_the_cluster_with_an_eap_link_across_primaries(
    cluster: BoundedRedisCluster, redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    hpc = on_another_primary(cluster, namespace, ORG, range(900, 1000))
    await ReadModel(cluster, namespace).serve(
        future_meeting(1, ORG, hour=2, meeting_series_id=412),
        future_meeting(2, ORG, hour=0),
        future_meeting(3, hpc, hour=1, meeting_series_id=412),
        future_meeting(4, 6, hour=1),
        eap_linked(ORG, hpc, version=1),
        registration_created(1, 1, 7001),
        registration_created(2, 3, 7001),
        token_issued(hpc, "token-of-hpc"),
    )

    async with api_of(redis_cluster.url, namespace) as api:
        assert (await api.get("/readyz")).status_code == 200
        assert await api.ids() == [2, 3, 1]  # the HPC organization's meeting 3 included
        assert await api.ids(meeting_series_id=412) == [3, 1]
        assert await api.ids(path(hpc), token="token-of-hpc") == [3]
        assert await api.ids(path(6), token=OTHER_TOKEN) == [4]
        member_path = f"/api/v2/organizations/{ORG}/members/7001/upcoming_meetings"
        assert await api.ids(member_path) == [3, 1]
        page = await api.page(items=1, page=2)
        assert (page["total_items"], [m["id"] for m in page["meetings"]]) == (3, [3])
        for token, body in [
            (None, UNAUTHORIZED),
            ("unknown", UNAUTHORIZED),
            (REVOKED_TOKEN, UNAUTHORIZED),
            (OTHER_TOKEN, NOT_AUTHORIZED),
            ("token-of-hpc", NOT_AUTHORIZED),
        ]:
            response = await api.get(headers=bearer(token) if token else None)
            assert (response.status_code, response.json()) == (401, body), token

        # Unlinking across primaries takes the copies out of the EAP list.
        await RedisReadModel(cluster, Control(namespace).keyspace("1")).apply(
            changes_of([eap_unlinked(ORG, hpc, version=2)])
        )
        assert await api.ids() == [2, 1]


# -- rebuild: swap and clean-up on every primary ---------------------------------


async def test_a_swap_and_the_clean_up_of_old_generations_cover_every_primary(
    cluster: BoundedRedisCluster, redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    control = Control(namespace)
    history = changes_of(
        [future_meeting(n, org=n % 12 + 1) for n in range(1, 60)]
        + [registration_created(n, n, 100 + n) for n in range(1, 60)]
    )
    for generation in ("1", "2"):
        await RedisReadModel(cluster, control.keyspace(generation)).apply(history)
    await cluster.set(control.current, "1")
    await cluster.set(control.building, "2")
    await cluster.hset(control.rebuild_progress, mapping={"generation": "2"})
    for org in range(1, 13):  # strays of a generation neither served nor built
        await cluster.set(f"{namespace}:7:{{o{org}}}:start", "stray")
    old_keys = redis_cluster.keys_per_node(f"{namespace}:1:*")
    assert all(old_keys), old_keys  # generation 1 is spread over every primary

    assert await swap(cluster, control, "2") == "1"

    assert as_text(await cluster.get(control.current) or b"") == "2"
    assert await cluster.exists(control.building, control.rebuild_progress) == 0
    with pytest.raises(NotBuilding):
        await swap(cluster, control, "2")  # no longer being built
    assert await delete_generation(cluster, control, "1") == sum(old_keys)
    assert await delete_other_generations(cluster, control, keep="2") == 12
    assert redis_cluster.keys_per_node(f"{namespace}:1:*") == [0, 0, 0]
    assert redis_cluster.keys_per_node(f"{namespace}:7:*") == [0, 0, 0]
    assert all(redis_cluster.keys_per_node(f"{namespace}:2:*"))
    assert await cluster.get(control.current) == b"2"  # control keys are not a generation


async def test_status_and_verify_read_every_primary(
    cluster: BoundedRedisCluster, namespace: str
) -> None:
    control = Control(namespace)
    keyspace = control.keyspace("1")
    await cluster.set(control.current, "1")
    await RedisReadModel(cluster, keyspace).apply(
        changes_of(
            [future_meeting(n, org=n % 9 + 1) for n in range(1, 40)]
            + [registration_created(n, n, 7000 + n % 3) for n in range(1, 40)]
        )
    )
    now_ms = time.time_ns() // 1_000_000
    beat = {"worker": "w1", "at_ms": now_ms, "state": "idle"}
    await cluster.hset(control.heartbeats, "w1", json.dumps(beat))

    served = await read_served(cluster, namespace, now_ms)

    assert served.current == "1"
    assert served.counts is not None
    assert (served.counts.organizations, served.counts.upcoming_meetings) == (9, 39)
    assert served.counts.registrations == 39
    assert [worker.worker for worker in served.workers] == ["w1"]
    listed = await read_list(cluster, keyspace, 2, now_ms)
    assert [meeting_id for _, meeting_id, _ in listed] == [1, 10, 19, 28, 37]


# -- guards -----------------------------------------------------------------------


async def test_a_redis_url_naming_one_node_of_a_cluster_is_refused(
    redis_cluster: LocalRedisCluster,
) -> None:
    url = f"redis://{redis_cluster.addresses[0]}/0"
    client = connect_redis(url)
    try:
        with pytest.raises(RedisUrlError, match=r"redis\+cluster://"):
            await check_redis(client, url)
    finally:
        await client.aclose()
    cluster = connect_redis(redis_cluster.url)
    try:
        await check_redis(cluster, redis_cluster.url)
    finally:
        await cluster.aclose()


async def test_a_store_script_touching_a_key_outside_its_slot_fails_even_on_its_node(
    cluster: BoundedRedisCluster, namespace: str
) -> None:
    """What makes the suites on the cluster catch a key moved out of its slot."""
    keyspace = Control(namespace).keyspace("1")
    home = keyspace.org(1).start
    neighbour = next(
        keyspace.org(org).start
        for org in range(2, 1000)
        if primary_of(cluster, keyspace.org(org).start) == primary_of(cluster, home)
    )
    store = RedisReadModel(cluster, keyspace)
    assert all(script.source.startswith("#!lua\n") for script in store._scripts)
    body = "redis.call('SET', KEYS[1], 1); return redis.call('SET', ARGV[1], 1)"

    assert await cluster.eval(f"#!lua\n{body}", 1, home, f"{keyspace.org(1).base}:s:5")
    with pytest.raises(ResponseError, match="same slot"):
        await cluster.eval(f"#!lua\n{body}", 1, home, neighbour)


async def test_a_burst_past_the_connection_cap_waits_rather_than_failing(
    redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    keys = [f"{namespace}:{{k{n}}}" for n in range(60)]
    bounded = connect_redis(redis_cluster.url, max_connections=2, timeout=10)
    plain = RedisCluster.from_url(f"redis://{redis_cluster.addresses[0]}", max_connections=2)
    try:
        assert await asyncio.gather(*(bounded.get(key) for key in keys)) == [None] * 60
        pipe = bounded.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, 1)
        await asyncio.gather(pipe.execute(), *(bounded.get(key) for key in keys))
        assert await asyncio.gather(*(bounded.get(key) for key in keys)) == [b"1"] * 60
        # redis-py's own cluster client raises at the same cap
        with pytest.raises(MaxConnectionsError):
            await asyncio.gather(*(plain.get(key) for key in keys))
    finally:
        await bounded.delete(*keys)
        await bounded.aclose()
        await plain.aclose()


async def test_a_primary_that_forgot_the_scripts_gets_them_again(
    cluster: BoundedRedisCluster, redis_cluster: LocalRedisCluster, namespace: str
) -> None:
    """SCRIPT FLUSH on one primary alone (as after its restart): the store and
    the API's reader load their scripts again on every primary and carry on."""
    orgs = range(1, 13)
    model = await RedisModel(cluster, namespace).serve()
    await model.apply(changes_of([future_meeting(org, org=org) for org in orgs]))
    forgetful = redis_cluster.nodes[1]
    plain = Redis(host=forgetful.host, port=forgetful.port)
    try:
        await plain.script_flush()
    finally:
        await plain.aclose()

    await model.apply(changes_of([future_meeting(100 + org, org=org, hour=1) for org in orgs]))

    assert [await ids(model, org, 0) for org in orgs] == [[org, 100 + org] for org in orgs]
