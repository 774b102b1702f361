"""Faults the system survives: Redis restarted empty, Redis too slow, the broker
going away and coming back. Each test runs the real processes on private
servers it may stop, and compares the API with the in-memory reference."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from devstack.kafka import TansuBroker
from devstack.ports import free_port
from devstack.redis import RedisServer
from events.errors import PublishError
from events.models import decode_event
from events.publisher import KafkaEventPublisher
from tests.e2e.test_operations import TOKEN, answers, reference_of
from tests.faultproxy import FlakyProxy
from tests.histories import random_history
from tests.system import System

FAST = {
    # Short enough to retry soon, long enough for a replay batch's CPU time on a
    # loaded machine (the lock is renewed between batches).
    "PROJECTOR_REBUILD_LOCK_TTL_S": "10",
    "PROJECTOR_GENERATION_GRACE_S": "1",
    "PROJECTOR_METRICS_PORT": "0",  # several workers on one machine
}


def exact(system: System, expected: dict[int, list[Any]]) -> bool:
    """Whether the API answers every organization's list exactly as expected."""
    for org, meetings in expected.items():
        response = system.get(f"/api/v2/organizations/{org}/upcoming_meetings", TOKEN, items=100)
        if response.status_code != 200 or response.json()["meetings"] != meetings:
            return False
    return True


class Watcher:
    """Reads the API in a thread until stopped; keeps every answer that is
    neither a well-formed 503 nor one of the allowed lists (or, given
    ``acceptable``, a list it accepts for the organization)."""

    def __init__(
        self,
        system: System,
        allowed: list[dict[int, list[Any]]],
        acceptable: Callable[[int, list[Any]], bool] | None = None,
    ) -> None:
        self.system = system
        self.allowed = allowed
        self.acceptable = acceptable or (
            lambda org, meetings: any(meetings == a[org] for a in allowed)
        )
        self.statuses: dict[int, int] = {}
        self.wrong: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        organizations = list(self.allowed[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{self.system.api_port}") as client:
            while not self._stop.is_set():
                org = random.choice(organizations)
                try:
                    response = client.get(
                        f"/api/v2/organizations/{org}/upcoming_meetings",
                        params={"items": 100},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10,
                    )
                except httpx.TransportError as exc:
                    self.wrong.append(f"{org}: {exc!r}")
                    continue
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code == 503:
                    if response.json() != {"error": "Service Unavailable"} or (
                        response.headers.get("retry-after") != "1"
                    ):
                        self.wrong.append(f"{org}: a malformed 503 {response.text}")
                elif response.status_code != 200:
                    self.wrong.append(f"{org}: {response.status_code} {response.text}")
                elif not self.acceptable(org, response.json()["meetings"]):
                    self.wrong.append(f"{org}: a wrong list ({response.json()['total_items']})")
                time.sleep(0.02)


async def projected(system: System, seed: int, events: int, projectors: int = 1) -> list[Any]:
    """Projectors and the API running, a random history published and applied."""
    history, _ = random_history(
        random.Random(seed), meetings=200, events=events, token=TOKEN, earliest_start_h=1
    )
    for number in range(projectors):
        system.start("projector", name=f"projector-{number + 1}", **FAST)
    await system.wait_for_topics()
    await system.publish(history)  # while the projectors join their group
    system.start_api()
    await system.wait_caught_up()
    return history


def late_events(seed: int, count: int) -> list[Any]:
    """More events about other meetings (ids above the history's), none ending soon."""
    events, _ = random_history(
        random.Random(seed), meetings=50, events=count, token=TOKEN, earliest_start_h=1
    )
    for event in events:  # move them clear of the history's meetings and registrations
        data = event["data"]
        if "meeting_id" in data:
            data["meeting_id"] += 10_000
        if "registration_id" in data:
            data["registration_id"] += 1_000_000
    return events


def logs(system: System) -> str:
    return "\n".join(path.read_text() for path in sorted(system.log_dir.glob("projector-*.log")))


async def test_redis_restarted_empty_gives_503_until_a_worker_rebuilds_it_by_itself(
    kafka_bootstrap_servers: str, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    system = System(kafka_bootstrap_servers, redis_server.url, namespace, tmp_path)
    try:
        history = await projected(system, seed=11, events=6_000, projectors=2)
        organizations = sorted(answers(reference_of(history), [1, 2, 3, 900, 901]))
        before = answers(reference_of(history), organizations)
        assert all(before.values()) and exact(system, before)
        late = late_events(seed=12, count=300)
        after = answers(reference_of(history + late), organizations)

        with Watcher(system, [before, after]) as watcher:
            redis_server.restart()  # no persistence: it comes back empty
            await system.publish(late)  # a batch that finds no read model to write
            system.wait_for(lambda: exact(system, after), "the rebuilt read model", 120)
        await system.wait_caught_up()

        print(f"answers during the outage and rebuild: {watcher.statuses}")
        assert watcher.wrong == []
        assert watcher.statuses.get(503, 0) > 0  # it was noticed, and never served partly
        assert "rebuilding it with" in logs(system)
        # Logged once the rebuild has exited, after its grace period: it may
        # come after the rebuilt read model is served.
        system.wait_for(
            lambda: "the lost read model is rebuilt and served again" in logs(system),
            "the worker to see its rebuild done",
            30,
        )
        status, output = system.run("projector", "verify")
        assert status == 0, output
    finally:
        system.stop()


BUSY_LOOP = """
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
while true do
  t = redis.call('TIME')
  if t[1] * 1000000 + t[2] - start > tonumber(ARGV[1]) * 1000000 then return 1 end
end
"""


async def stall(server: RedisServer, seconds: float) -> None:
    """Redis runs one script for ``seconds`` and answers nobody else meanwhile."""
    blocker = Redis.from_url(server.url, socket_timeout=60)
    try:
        await blocker.eval(BUSY_LOOP, 0, seconds)  # type: ignore[misc]
    finally:
        await blocker.aclose()


async def test_a_slow_redis_gives_503_in_time_and_both_services_recover(
    kafka_bootstrap_servers: str, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    system = System(kafka_bootstrap_servers, redis_server.url, namespace, tmp_path)
    try:
        history = await projected(system, seed=21, events=1_000)
        organizations = sorted(answers(reference_of(history), [1, 2, 3, 900, 901]))
        late = late_events(seed=22, count=300)
        before = answers(reference_of(history), organizations)
        after = answers(reference_of(history + late), organizations)
        assert exact(system, before)

        # Long enough for both requests below to be answered meanwhile, each
        # within the API's Redis timeout, on a loaded machine too (past Redis's
        # busy-script limit, others get BUSY errors: as unavailable).
        stalled = asyncio.ensure_future(stall(redis_server, 6))
        await asyncio.sleep(0.3)
        path = f"/api/v2/organizations/{organizations[0]}/upcoming_meetings"
        during = await asyncio.to_thread(system.get, path, TOKEN)
        ready = await asyncio.to_thread(system.get, "/readyz")
        assert not stalled.done()  # both answers came while Redis was still busy
        await system.publish(late)  # the projector's batch waits for Redis
        await stalled

        assert during.status_code == 503, during.text
        assert during.json() == {"error": "Service Unavailable"}
        assert during.headers["retry-after"] == "1"
        assert ready.status_code == 503
        await system.wait_caught_up()
        system.wait_for(lambda: exact(system, after), "the API to recover", 30)
        status, output = system.run("projector", "verify")
        assert status == 0, output
    finally:
        system.stop()


class ProxiedTansu(TansuBroker):
    """A private Tansu that tells clients to reach it through a proxy's port."""

    def __init__(self, proxy_port: int, log_dir: Path) -> None:
        super().__init__(log_dir=log_dir)
        self.proxy_port = proxy_port

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{self.proxy_port}"
        return argv


async def publish_through_outages(
    bootstrap_servers: str, system: System, events: list[Any], chunk: int
) -> int:
    """Publish in chunks; a chunk the broker did not confirm is sent again. Retries."""
    models = [decode_event(json.dumps(event)) for event in events]
    retries = 0
    async with KafkaEventPublisher(bootstrap_servers, system.topics) as publisher:
        for start in range(0, len(models), chunk):
            while True:
                try:
                    await publisher.publish_many(models[start : start + chunk])
                    break
                except PublishError:
                    retries += 1
                    await asyncio.sleep(0.5)
            await asyncio.sleep(0.2)  # a steady flow, not one burst
    return retries


@pytest.mark.slow
async def test_the_broker_going_away_and_back_loses_nothing(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """The broker's outage as its clients see it: the bundled Tansu 0.6.0 keeps
    records in memory only (its postgres engine is not compiled in), so a real
    restart would lose every topic. A proxy in front of it resets every
    connection and refuses new ones for a while, twice, while events are being
    published; publisher and projector must reconnect and lose nothing."""
    proxy_port = free_port()
    with (
        ProxiedTansu(proxy_port, tmp_path) as broker,
        FlakyProxy(proxy_port, "127.0.0.1", broker.port) as proxy,
    ):
        bootstrap = f"127.0.0.1:{proxy_port}"
        system = System(bootstrap, redis_url, namespace, tmp_path)
        try:
            history = await projected(system, seed=31, events=1_000)
            late = late_events(seed=32, count=6_000)
            organizations = sorted(answers(reference_of(history), [1, 2, 3, 900, 901]))
            publishing = asyncio.ensure_future(
                publish_through_outages(bootstrap, system, late, chunk=100)
            )
            for _ in range(2):
                await asyncio.sleep(2)
                assert not publishing.done()  # the outage comes mid-publishing
                await asyncio.to_thread(proxy.outage, 5)
            retries = await publishing

            await system.wait_caught_up(timeout_s=120)
            expected = answers(reference_of(history + late), organizations)
            system.wait_for(lambda: exact(system, expected), "the read model", 60)
            assert proxy.resets > 0
            print(f"publisher retries: {retries}, connections: {proxy.connections}")
            status, output = system.run("projector", "verify")
            assert status == 0, output
        finally:
            system.stop()


@pytest.mark.slow
async def test_a_projector_killed_while_its_batch_waits_for_redis_loses_nothing(
    kafka_bootstrap_servers: str, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    """The batch in hand when a worker dies is not committed, so it is applied again."""
    system = System(kafka_bootstrap_servers, redis_server.url, namespace, tmp_path)
    try:
        history = await projected(system, seed=51, events=1_000)
        organizations = sorted(answers(reference_of(history), [1, 2, 3, 900, 901]))
        late = late_events(seed=52, count=500)
        stalled = asyncio.ensure_future(stall(redis_server, 4))
        await asyncio.sleep(0.3)
        await system.publish(late)
        await asyncio.sleep(2.5)  # fetched, waiting for Redis; past a commit interval
        (projector,) = [p for p in system.processes if p.name == "projector-1"]
        projector.kill()
        await stalled
        system.start("projector", name="projector-again", **FAST)

        await system.wait_caught_up()
        expected = answers(reference_of(history + late), organizations)
        system.wait_for(lambda: exact(system, expected), "the late events", 30)
        status, output = system.run("projector", "verify")
        assert status == 0, output
    finally:
        system.stop()
