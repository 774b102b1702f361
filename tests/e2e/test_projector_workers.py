"""Several projector workers in one consumer group, killed without warning:
the read model still converges to the reference's answer (what a single
worker gives), with nothing lost and nothing counted twice."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from devstack.process import ChildProcess
from events.kafka import KafkaConnection
from projector.kafka.offsets import lag
from readmodel.keys import Control
from tests.e2e.test_faults import exact
from tests.e2e.test_operations import TOKEN, answers, reference_of
from tests.histories import random_history
from tests.system import System

WORKER = {"PROJECTOR_METRICS_PORT": "0", "PROJECTOR_HEARTBEAT_S": "0.5"}


async def events_applied(system: System, process: ChildProcess) -> int:
    """What the worker's latest heartbeat says it has applied (0 before its first)."""
    redis = Redis.from_url(system.redis_url)
    try:
        raw = await redis.hget(
            Control(system.namespace).heartbeats, f"{socket.gethostname()}:{process.pid}"
        )
    except RedisError:  # the shared server busy for a moment: ask again
        return 0
    finally:
        await redis.aclose()
    return 0 if raw is None else int(json.loads(raw)["events_applied"])


async def until_applying(system: System, process: ChildProcess, timeout_s: float = 60) -> int:
    """Wait until the worker has applied events while some are still to come."""
    async with asyncio.timeout(timeout_s):
        while (applied := await events_applied(system, process)) == 0:  # noqa: ASYNC110 - polls another process
            await asyncio.sleep(0.1)
    return applied


async def check_converged(system: System, history: list[Any]) -> None:
    await system.wait_caught_up(timeout_s=180)
    organizations = sorted(answers(reference_of(history), [1, 2, 3, 900, 901]))
    expected = answers(reference_of(history), organizations)
    system.wait_for(lambda: exact(system, expected), "the reference's answer", 30)
    status, output = system.run("projector", "verify")
    assert status == 0, output


def large_history(seed: int, events: int) -> list[Any]:
    history, _ = random_history(
        random.Random(seed), meetings=1_000, events=events, token=TOKEN, earliest_start_h=1
    )
    return history


@pytest.mark.slow
async def test_two_workers_one_killed_midway_and_restarted_converge(system: System) -> None:
    history = large_history(seed=41, events=40_000)
    system.start("projector", name="projector-1", **WORKER)
    victim = system.start("projector", name="projector-2", **WORKER)
    system.start_api()
    publishing = asyncio.ensure_future(system.publish(history))

    applied = await until_applying(system, victim)
    remaining = await lag(
        KafkaConnection(system.bootstrap_servers), system.group_id, system.topics.names()
    )
    victim.kill()  # mid-batch, no last commit
    await publishing
    assert remaining > 0 or not publishing.done(), "killed after the work was done"
    await asyncio.sleep(2)
    system.start("projector", name="projector-2-again", **WORKER)

    await check_converged(system, history)
    print(f"projector-2 was killed after applying {applied} events, {remaining} still to commit")


@pytest.mark.slow
async def test_the_projector_killed_again_and_again_while_events_arrive_converges(
    system: System,
) -> None:
    history = large_history(seed=42, events=30_000)
    victim = system.start("projector", name="projector-0", **WORKER)
    system.start_api()

    async def publish_slowly() -> None:
        for start in range(0, len(history), 1_000):
            await system.publish(history[start : start + 1_000])
            await asyncio.sleep(2)  # 60 s of arrivals: most kills land while they go on

    publishing = asyncio.ensure_future(publish_slowly())
    kills_while_publishing = 0
    for kill in range(1, 5):
        await until_applying(system, victim)
        victim.kill()  # wherever it is: mid-batch, before a commit
        kills_while_publishing += not publishing.done()
        victim = system.start("projector", name=f"projector-{kill}", **WORKER)
    await publishing
    assert kills_while_publishing >= 3, "the history was published before most kills"

    await check_converged(system, history)
