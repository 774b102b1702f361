"""Nothing acknowledged is ever lost: Redis comes back without some writes, and
the projector applies them again by itself (docs/healing.md).

Each test runs the real processes on private servers, loses writes the way
Redis loses them, and then checks, with no operator command, that:

- every answer the API gave meanwhile was a well-formed 503 or a list that
  some earlier moment of the history gives (``watching``);
- the read model converges to the in-memory reference, and ``verify`` exits 0.

The histories: ``before`` (any events, fully applied before the fault), then
``late`` events that schedule new meetings only, so that the lists of any
moment in between hold every meeting of ``before`` and some of ``late``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from devstack.redis import PersistentRedisServer
from devstack.redis_cluster import LocalRedisCluster, RedisClusterNode
from readmodel.keys import Control
from tests.builders import at, leader, scheduled, token_issued, updated
from tests.e2e.test_faults import Watcher, exact, stall
from tests.e2e.test_operations import TOKEN, answers, reference_of
from tests.histories import random_history
from tests.system import System

HOUR_MS = 3_600_000
HEAL = {
    "PROJECTOR_REBUILD_LOCK_TTL_S": "10",
    "PROJECTOR_GENERATION_GRACE_S": "1",
    "PROJECTOR_METRICS_PORT": "0",
    "PROJECTOR_HEARTBEAT_S": "1",  # how often a quiet partition is compared
}


def history(seed: int, events: int) -> list[Any]:
    """A random history of meetings, registrations and links, none ending within the hour."""
    events_, _ = random_history(
        random.Random(seed), meetings=150, events=events, token=TOKEN, earliest_start_h=1
    )
    return events_


def new_meetings(seed: int, count: int, organizations: list[int]) -> list[Any]:
    """``count`` meetings scheduled, none seen before, owned by ``organizations``."""
    rng = random.Random(seed)
    now = time.time_ns() // 1_000_000
    events = []
    for number in range(count):
        start = now + rng.randint(2, 72) * HOUR_MS
        events.append(
            scheduled(
                meeting_id=100_000 + seed * 1_000 + number,
                organization_id=rng.choice(organizations),
                start_time=at(start),
                end_time=at(start + HOUR_MS),
                group_leader=leader(id=rng.randint(1, 5)),
            )
        )
    return events


def plausible(meetings: list[Any], before: list[Any], after: list[Any]) -> bool:
    """Whether a list is one some moment between ``before`` and ``after`` gives,
    when ``after`` only adds meetings: all of ``before``, some of the rest, in order."""
    return all(m in meetings for m in before) and meetings == [m for m in after if m in meetings]


def watching(system: System, before: dict[int, list[Any]], after: dict[int, list[Any]]) -> Watcher:
    """A watcher of the API that accepts any list between ``before`` and ``after``."""
    return Watcher(
        system,
        [before, after],
        lambda org, meetings: plausible(meetings, before[org], after[org]),
    )


async def publish_steadily(system: System, events: list[Any], chunks: int, pause_s: float) -> None:
    size = max(1, len(events) // chunks)
    for start in range(0, len(events), size):
        await system.publish(events[start : start + size])
        await asyncio.sleep(pause_s)


async def started_again(
    system: System,
    server: PersistentRedisServer,
    scenario: Scenario,
    streaming: asyncio.Future[None],
) -> float:
    """Redis started again while events stream in; seconds until it is healed."""
    server.start()
    restarted = time.monotonic()
    await streaming
    return await converged(system, scenario, restarted)


def assert_healed(system: System, watcher: Watcher, when: str) -> None:
    print(f"healed {when}; answers meanwhile: {watcher.statuses}")
    assert watcher.wrong == []
    assert "applying records" in logs(system)


def logs(system: System) -> str:
    return "\n".join(path.read_text() for path in sorted(system.log_dir.glob("projector-*.log")))


async def save(server: PersistentRedisServer) -> None:
    client = Redis(host=server.host, port=server.port)
    try:
        await client.save()
    finally:
        await client.aclose()


class Scenario:
    """A system on ``server``: ``before`` applied; the organizations to watch."""

    def __init__(self, system: System, before: list[Any], late: list[Any]) -> None:
        self.system = system
        reference_before = reference_of(before)
        organizations = sorted(org for org, lst in answers(reference_before, ORGS).items() if lst)
        self.organizations = organizations
        self.before = answers(reference_before, organizations)
        self.after = answers(reference_of(before + late), organizations)


ORGS = [1, 2, 3, 900, 901]


async def started(
    system: System, seed: int, events: int, late_count: int, projectors: int = 1
) -> tuple[Scenario, list[Any]]:
    before = history(seed, events)
    for number in range(projectors):
        system.start("projector", name=f"projector-{number + 1}", **HEAL)
    system.start_api()
    await system.publish(before)
    await system.wait_caught_up()
    organizations = [1, 2, 3]
    late = new_meetings(seed, late_count, organizations)
    scenario = Scenario(system, before, late)
    assert exact(system, scenario.before)
    return scenario, late


async def converged(system: System, scenario: Scenario, since: float) -> float:
    """Seconds from ``since`` until the API answers exactly; then verify."""
    await system.wait_caught_up(timeout_s=120)
    system.wait_for(lambda: exact(system, scenario.after), "the lost writes applied again", 120)
    healed = time.monotonic() - since
    status, output = system.run("projector", "verify")
    assert status == 0, output
    return healed


@pytest.mark.slow
async def test_a_redis_restored_from_an_older_snapshot_gets_its_lost_writes_again(
    kafka_bootstrap_servers: str, namespace: str, tmp_path: Path
) -> None:
    with PersistentRedisServer(log_dir=tmp_path / "redis") as server:
        system = System(kafka_bootstrap_servers, server.url, namespace, tmp_path)
        try:
            scenario, late = await started(system, seed=61, events=3_000, late_count=120)
            await save(server)  # the snapshot: ``before`` only
            older = tmp_path / "older.rdb"
            shutil.copy(server.snapshot_path, older)
            half = len(late) // 2
            await system.publish(late[:half])  # acknowledged, then lost
            await system.wait_caught_up()

            with watching(system, scenario.before, scenario.after) as watcher:
                server.kill()
                shutil.copy(older, server.snapshot_path)
                streaming = asyncio.ensure_future(
                    publish_steadily(system, late[half:], chunks=10, pause_s=0.2)
                )
                healed = await started_again(system, server, scenario, streaming)

            assert_healed(system, watcher, f"{healed:.1f}s after the restart")
        finally:
            system.stop()


def positions_on(node: RedisClusterNode, namespace: str) -> dict[bytes, bytes]:
    """The positions hash a node holds for generation 1 (one per primary)."""
    with node.client() as client:
        (key,) = list(client.scan_iter(match=f"{namespace}:1:*:positions"))
        return {k: v for k, v in client.hgetall(key).items() if b"|" not in k}


@pytest.mark.slow
async def test_a_replica_promoted_without_the_last_writes_gets_them_again(
    kafka_bootstrap_servers: str, namespace: str, tmp_path: Path
) -> None:
    """3 primaries and 3 replicas. One replica sleeps (DEBUG SLEEP) and its
    primary drops the link to it, so the writes of the next seconds reach the
    primary only; the primary is SIGKILLed, the replica wakes up without them
    and is promoted (CLUSTER FAILOVER TAKEOVER), with events in flight."""
    with LocalRedisCluster(tmp_path / "cluster", primaries=3, replicas=1) as cluster:
        system = System(kafka_bootstrap_servers, cluster.url, namespace, tmp_path)
        try:
            scenario, late = await started(system, seed=71, events=3_000, late_count=150)
            victim = cluster.primary_of(Control(namespace).keyspace("1").org(1).start)
            replica = cluster.replica_of(victim)
            third = len(late) // 3

            with watching(system, scenario.before, scenario.after) as watcher:
                sleeping = asyncio.ensure_future(
                    asyncio.to_thread(lambda: replica.client().execute_command("DEBUG SLEEP 6"))
                )
                await asyncio.sleep(0.3)
                with victim.client() as client:
                    client.client_kill_filter(_type="replica")  # it cannot reconnect asleep
                await publish_steadily(system, late[:third], chunks=5, pause_s=0.2)
                await asyncio.sleep(1.5)  # applied on the primary, acknowledged
                on_primary = positions_on(victim, namespace)
                streaming = asyncio.ensure_future(
                    publish_steadily(system, late[third : 2 * third], chunks=10, pause_s=0.2)
                )
                victim.kill()  # with events in flight
                await sleeping
                with replica.client() as client:
                    client.cluster("FAILOVER", "TAKEOVER")
                promoted = time.monotonic()
                lost = positions_on(replica, namespace)
                assert any(int(lost[field]) < int(on_primary[field]) for field in on_primary)
                await streaming
                await publish_steadily(system, late[2 * third :], chunks=5, pause_s=0.2)
                healed = await converged(system, scenario, promoted)

            assert_healed(system, watcher, f"{healed:.1f}s after the promotion")
        finally:
            system.stop()


@pytest.mark.slow
async def test_a_redis_restarted_from_its_append_only_file_gets_its_lost_writes_again(
    kafka_bootstrap_servers: str, namespace: str, tmp_path: Path
) -> None:
    """``appendonly yes``, ``appendfsync everysec``: Redis is SIGKILLed under a
    live stream. The file written since the last fsync is lost only if the
    machine goes down with the process; its tail is cut here as the lost page
    cache would have it."""
    with PersistentRedisServer(log_dir=tmp_path / "redis", appendonly=True) as server:
        system = System(kafka_bootstrap_servers, server.url, namespace, tmp_path)
        try:
            scenario, late = await started(system, seed=81, events=3_000, late_count=150)
            (aof,) = server.aof_dir.glob("*.incr.aof")
            size_before = aof.stat().st_size
            half = len(late) // 2
            with watching(system, scenario.before, scenario.after) as watcher:
                await publish_steadily(system, late[:half], chunks=10, pause_s=0.1)
                await system.wait_caught_up()  # acknowledged
                streaming = asyncio.ensure_future(
                    publish_steadily(system, late[half:], chunks=10, pause_s=0.2)
                )
                await asyncio.sleep(0.5)
                server.kill()
                written = aof.stat().st_size
                with aof.open("r+b") as file:  # the second after the last fsync, gone
                    file.truncate(size_before + (written - size_before) // 2)
                healed = await started_again(system, server, scenario, streaming)

            assert_healed(system, watcher, f"{healed:.1f}s after the restart")
        finally:
            system.stop()


def versions(meetings: int, version: int) -> list[Any]:
    """Every meeting's snapshot at ``version``: the same times, another name."""
    build = scheduled if version == 1 else updated
    now = time.time_ns() // 1_000_000
    return [
        build(
            meeting_id=meeting_id,
            organization_id=1 + meeting_id % 3,
            version=version,
            name=f"Circle {meeting_id} v{version}",
            start_time=at(now + (2 + meeting_id) * HOUR_MS),
            end_time=at(now + (3 + meeting_id) * HOUR_MS),
        )
        for meeting_id in range(1, meetings + 1)
    ]


def at_some_version(states: list[dict[int, list[Any]]]) -> Callable[[int, list[Any]], bool]:
    """Whether a list has the meetings of ``states`` (all alike but for their
    versions), each at the version of one of them."""

    def accepts(org: int, meetings: list[Any]) -> bool:
        lists = [state[org] for state in states]
        return all(len(meetings) == len(lst) for lst in lists) and all(
            any(m == lst[i] for lst in lists) for i, m in enumerate(meetings)
        )

    return accepts


@pytest.mark.slow
async def test_a_worker_frozen_mid_batch_cannot_undo_newer_work_when_it_wakes(
    kafka_bootstrap_servers: str, namespace: str, tmp_path: Path
) -> None:
    """Two workers. Redis stalls while both hold a batch of version 2; one is
    frozen (SIGSTOP) with its batch cut between its steps, past the session
    timeout: the other takes its partitions, applies version 2 and then 3.
    Resumed (SIGCONT), the frozen one finishes its batch of version 2: the
    read model must stay at version 3."""
    with PersistentRedisServer(log_dir=tmp_path / "redis") as server:
        system = System(kafka_bootstrap_servers, server.url, namespace, tmp_path)
        fast = {**HEAL, "PROJECTOR_SESSION_TIMEOUT_S": "6"}
        try:
            tokens = [token_issued(org, TOKEN) for org in (1, 2, 3)]
            v1, v2, v3 = (versions(40, version) for version in (1, 2, 3))
            zombie = system.start("projector", name="projector-1", **fast)
            system.start("projector", name="projector-2", **fast)
            system.start_api()
            await system.publish(tokens + v1)
            await system.wait_caught_up()
            states = [
                answers(reference_of(tokens + v1 + v2[:n] + v3[:m]), [1, 2, 3])
                for n, m in ((0, 0), (40, 0), (40, 40))
            ]
            assert exact(system, states[0])

            with Watcher(system, states, at_some_version(states)) as watcher:
                stalled = asyncio.ensure_future(stall(server, 3))
                await asyncio.sleep(0.2)
                await system.publish(v2)  # both workers' batches wait for Redis
                await asyncio.sleep(1.5)
                assert zombie.pid is not None
                os.kill(zombie.pid, signal.SIGSTOP)
                await stalled
                await asyncio.sleep(8)  # past the session timeout: the group rebalances
                await system.publish(v3)
                await system.wait_caught_up()  # the other worker has it all
                system.wait_for(lambda: exact(system, states[2]), "version 3 everywhere", 60)
                os.kill(zombie.pid, signal.SIGCONT)
                await asyncio.sleep(10)  # it finishes its batch, finds itself out, rejoins
                await system.wait_caught_up()
                assert exact(system, states[2])

            assert watcher.wrong == [] and sum(watcher.statuses.values()) > 0
            status, output = system.run("projector", "verify")
            assert status == 0, output
        finally:
            system.stop()
