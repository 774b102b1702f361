"""The whole system on a Redis Cluster of 3 primaries: ``python -m projector``,
``python -m api`` and the operators' commands with ``REDIS_URL=redis+cluster://...``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.redis_cluster import LocalRedisCluster
from events.models import decode_event
from events.times import wall_clock_ms
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from readmodel.connections import BoundedRedisCluster, connect_redis
from readmodel.keys import Control
from tests.histories import random_history
from tests.system import System

TOKEN = "cluster-token"
FAST = {"PROJECTOR_REBUILD_LOCK_TTL_S": "5", "PROJECTOR_GENERATION_GRACE_S": "1"}
MEMBERS = range(1, 31)  # random_history's users (leaders are 1..7)


@pytest.fixture
def cluster_system(
    kafka_bootstrap_servers: str,
    redis_cluster: LocalRedisCluster,
    namespace: str,
    tmp_path: Path,
) -> Iterator[System]:
    running = System(kafka_bootstrap_servers, redis_cluster.url, namespace, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def reference_of(events: list[dict[str, Any]]) -> InMemoryReadModel:
    reference = InMemoryReadModel()
    reference.apply([project(decode_event(json.dumps(event))) for event in events])
    return reference


def assert_answers_match(
    system: System, reference: InMemoryReadModel, organizations: list[int]
) -> None:
    now = wall_clock_ms()
    for org in organizations:
        expected = [json.loads(doc) for doc in reference.page(org, now, 0, 100).meetings]
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected, org
        for user in MEMBERS:
            page = reference.page(org, now, 0, 100, member_id=user)
            response = system.get(
                f"/api/v2/organizations/{org}/members/{user}/upcoming_meetings", TOKEN, items=100
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["meetings"] == [json.loads(doc) for doc in page.meetings], (org, user)
            assert body["total_items"] == page.total_items


async def test_projector_api_and_rebuild_on_a_cluster_give_the_reference_answers(
    cluster_system: System, redis_cluster: LocalRedisCluster
) -> None:
    system = cluster_system
    history, organizations = random_history(
        random.Random(5), meetings=80, events=1200, token=TOKEN, earliest_start_h=1
    )
    client = connect_redis(redis_cluster.url)
    assert isinstance(client, BoundedRedisCluster)
    try:
        await client.initialize()
        keyspace = Control(system.namespace).keyspace("1")
        primaries = {client.get_node_from_key(keyspace.org(o).start).name for o in organizations}
        assert len(primaries) > 1, "EAP and HPC organizations should span primaries"
    finally:
        await client.aclose()

    system.start("projector")
    await system.wait_for_topics()
    await system.publish(history)  # while the projector joins its group
    system.start_api()  # ready: a generation is served and the projector's heartbeat is read
    await system.wait_caught_up()
    reference = reference_of(history)
    assert_answers_match(system, reference, organizations)
    generation_1 = redis_cluster.keys_per_node(f"{system.namespace}:1:*")
    assert all(generation_1), generation_1

    status, output = system.run("projector", "rebuild", **FAST)

    assert status == 0, output
    assert "generation 2 is served" in output
    assert f"generation 1 deleted ({sum(generation_1):,} keys)" in output
    assert redis_cluster.keys_per_node(f"{system.namespace}:1:*") == [0, 0, 0]
    assert_answers_match(system, reference, organizations)

    shown = await system.projector("status", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["current"] == "2" and document["rebuild"] is None
    verified = await system.projector("verify", "--wait", "10")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "agree" in verified.stdout
