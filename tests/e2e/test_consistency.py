"""Reading your own writes, with processes started as a user would (docs/consistency.md).

- A publisher's token, sent as ``X-Consistency-Token``, gets an answer that
  includes what it published: every time, while other events stream in.
- A client that echoes the last token it saw never gets an older answer: from
  two API processes in turn, while a rebuild swaps the generation, on one
  Redis and on a Redis Cluster.
- A position the read model has not reached is a 503 after the wait: with
  the projector stopped, and after Redis restarted without the writes a token
  names, until the projector has applied them again.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import free_port
from devstack.redis import PersistentRedisServer
from events.consistency import parse_token
from events.models import decode_event
from events.publisher import KafkaEventPublisher
from tests.builders import registration_created, scheduled, token_issued
from tests.e2e.test_healing import HEAL, save
from tests.system import System

ORG = 5
TOKEN = "consistency-token"
FUTURE: dict[str, Any] = {
    "start_time": "2099-05-23T15:00:00.000Z",
    "end_time": "2099-05-23T16:00:00.000Z",
    "max_attendees": 10_000,
}
TRIES = 200
CHAINS = 4  # members registering at once, each for a meeting of its own
CHAIN_MEETINGS = range(1, CHAINS + 1)


def read(system: System, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["X-Consistency-Token"] = token
    return httpx.get(
        f"http://127.0.0.1:{system.api_port}/api/v2/organizations/{ORG}/upcoming_meetings",
        headers={"Authorization": f"Bearer {TOKEN}", **headers},
        timeout=10,
    )


def stream_other_events(system: System, stop: threading.Event) -> None:
    """Meetings of another organization, about 200 a second, until ``stop``."""

    async def publish() -> None:
        meeting = 1_000
        while not stop.is_set():
            batch: list[dict[str, Any]] = []
            for _ in range(50):
                meeting += 1
                batch.append(scheduled(meeting_id=meeting, organization_id=ORG + 1, **FUTURE))
            await system.publish(batch)
            await asyncio.sleep(0.25)

    asyncio.run(publish())


def test_a_registration_is_in_the_answer_to_its_token_every_time(system: System) -> None:
    """CHAINS members each register for a meeting of their own and read it back
    with the publisher's token, TRIES times in all, at once, while other events
    stream in: every answer counts every registration published before it."""
    system.start("projector")
    system.start_api()
    asyncio.run(
        system.publish(
            [
                *(scheduled(meeting_id=m, organization_id=ORG, **FUTURE) for m in CHAIN_MEETINGS),
                token_issued(ORG, TOKEN),
            ]
        )
    )
    asyncio.run(system.wait_caught_up())

    async def chain(
        meeting_id: int, publisher: KafkaEventPublisher, client: httpx.AsyncClient
    ) -> int:
        """Registrations for one meeting, each read back with its token; how
        many answers took over 10 ms."""
        waited = 0
        for n in range(1, TRIES // CHAINS + 1):
            registration = registration_created(
                registration_id=meeting_id * 10_000 + n, meeting_id=meeting_id, user_id=n
            )
            token = await publisher.publish(decode_event(json.dumps(registration)))
            response = await client.get(
                f"/api/v2/organizations/{ORG}/upcoming_meetings",
                headers={"Authorization": f"Bearer {TOKEN}", "X-Consistency-Token": token},
            )
            assert response.status_code == 200, (meeting_id, n, token, response.headers)
            counts = {m["id"]: m["registered_attendees"] for m in response.json()["meetings"]}
            assert counts[meeting_id] == n, (meeting_id, n, token, response.headers)
            # The answer's own token covers the write's.
            topics = system.topics.names()
            answered = parse_token(response.headers["X-Consistency-Token"], topics)
            assert answered.covers(parse_token(token, topics)), (token, response.headers)
            waited += response.elapsed.total_seconds() > 0.01
        return waited

    async def chains() -> int:
        async with (
            KafkaEventPublisher(system.bootstrap_servers, system.topics) as publisher,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}", timeout=10) as client,
        ):
            waited = await asyncio.gather(*(chain(m, publisher, client) for m in CHAIN_MEETINGS))
        return sum(waited)

    stop = threading.Event()
    background = threading.Thread(target=stream_other_events, args=(system, stop))
    background.start()
    try:
        waited = asyncio.run(chains())
    finally:
        stop.set()
        background.join()
    print(f"{TRIES} reads of a write just published: {waited} took over 10 ms")


def test_a_position_the_projector_never_reaches_is_a_503_after_the_wait(system: System) -> None:
    projector = system.start("projector")
    system.start_api()
    asyncio.run(
        system.publish(
            [scheduled(meeting_id=1, organization_id=ORG, **FUTURE), token_issued(ORG, TOKEN)]
        )
    )
    asyncio.run(system.wait_caught_up())
    reached = read(system, None).headers["X-Consistency-Token"]

    projector.kill()
    token = asyncio.run(
        system.publish([registration_created(registration_id=1, meeting_id=1, user_id=7)])
    )
    response = read(system, token, Prefer="wait=1")

    assert response.status_code == 503
    assert response.json() == {"error": "Service Unavailable"}
    assert response.headers["retry-after"]
    assert response.headers["preference-applied"] == "wait=1"
    assert response.headers["X-Consistency-Token"] == reached
    # Without the header, the read model answers as it is.
    stale = read(system, None)
    assert stale.status_code == 200
    assert stale.json()["meetings"][0]["registered_attendees"] == 0


# -- monotonic reads --------------------------------------------------------------

MEETINGS = range(1, 6)
MEMBER = 7
REBUILD = {"PROJECTOR_REBUILD_LOCK_TTL_S": "10", "PROJECTOR_GENERATION_GRACE_S": "2"}


@pytest.fixture(params=["node", "cluster"])
def system_on(
    request: pytest.FixtureRequest,
    kafka_bootstrap_servers: str,
    redis_url: str,
    namespace: str,
    tmp_path: Path,
) -> Iterator[System]:
    """The processes on the session's Redis, or on a Redis Cluster of 3 primaries."""
    if request.param == "cluster":
        redis_url = request.getfixturevalue("redis_cluster").url
    running = System(kafka_bootstrap_servers, redis_url, namespace, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def start_apis(system: System, count: int) -> list[int]:
    """``count`` API processes, each on a port of its own; their ports."""
    ports = [free_port() for _ in range(count)]
    for number, port in enumerate(ports):
        system.start("api", name=f"api-{number + 1}", API_PORT=str(port))

    def ready() -> bool:
        try:
            return all(
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
                for port in ports
            )
        except httpx.TransportError:
            return False

    system.wait_for(ready, "the API processes to be ready")
    return ports


async def register_steadily(system: System, stop: asyncio.Event) -> int:
    """Registrations of new users for MEETINGS, about 200 a second, until ``stop``;
    how many."""
    n = 0
    async with KafkaEventPublisher(system.bootstrap_servers, system.topics) as publisher:
        while not stop.is_set():
            batch = []
            for _ in range(20):
                n += 1
                event = registration_created(
                    registration_id=n, meeting_id=MEETINGS[n % len(MEETINGS)], user_id=10_000 + n
                )
                batch.append(decode_event(json.dumps(event)))
            await publisher.publish_many(batch)
            await asyncio.sleep(0.1)
    return n


@dataclass
class EchoingClient:
    """Reads the lists, sending back the last X-Consistency-Token it was given.

    Every meeting it reads is in both lists (MEMBER is registered for each),
    and registrations only add up: the attendees an answer counts never go down
    unless the answer is older than one seen before.
    """

    topics: frozenset[str]
    token: str | None = None
    attendees: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # port -> 200s
    unavailable: int = 0
    older: list[str] = field(default_factory=list)

    async def read(self, client: httpx.AsyncClient, port: int, path: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if self.token is not None:
            headers["X-Consistency-Token"] = self.token
        response = await client.get(f"http://127.0.0.1:{port}{path}", headers=headers)
        if response.status_code == 503:  # not an answer: the token is kept
            assert response.json() == {"error": "Service Unavailable"}
            assert response.headers["retry-after"]
            self.unavailable += 1
            return
        assert response.status_code == 200, response.text
        token = response.headers["X-Consistency-Token"]
        attendees = sum(m["registered_attendees"] for m in response.json()["meetings"])
        sent = parse_token(self.token or "", self.topics)
        if not parse_token(token, self.topics).covers(sent):
            self.older.append(f"{port}{path}: token {token} after {self.token}")
        if attendees < self.attendees:
            self.older.append(
                f"{port}{path}: {attendees} attendees after {self.attendees} "
                f"(token {self.token} sent, {token} received)"
            )
        self.token, self.attendees = token, attendees
        self.answers[port] = self.answers.get(port, 0) + 1


async def test_a_client_echoing_its_token_never_reads_back_in_time_across_processes_and_a_swap(
    system_on: System,
) -> None:
    """Two API processes in turn, both lists, registrations streaming in, and
    ``python -m projector rebuild`` swapping generation 2 in meanwhile: every
    answer's token covers the one sent, and no answer counts fewer attendees
    than one before it."""
    system = system_on
    system.start("projector")
    ports = start_apis(system, 2)
    await system.publish(
        [
            token_issued(ORG, TOKEN),
            *(scheduled(meeting_id=m, organization_id=ORG, **FUTURE) for m in MEETINGS),
            *(
                registration_created(registration_id=100_000 + m, meeting_id=m, user_id=MEMBER)
                for m in MEETINGS
            ),
        ]
    )
    await system.wait_caught_up()
    paths = [
        f"/api/v2/organizations/{ORG}/upcoming_meetings",
        f"/api/v2/organizations/{ORG}/members/{MEMBER}/upcoming_meetings",
    ]
    client = EchoingClient(frozenset(system.topics.names()))
    stop = asyncio.Event()
    streaming = asyncio.ensure_future(register_steadily(system, stop))
    rebuild = asyncio.ensure_future(
        asyncio.to_thread(system.run, "projector", "rebuild", timeout_s=120, **REBUILD)
    )
    async with httpx.AsyncClient(timeout=10) as http:
        n = after = 0
        # Through the rebuild (its swap, then its grace), then 20 reads of each process.
        while after < 40:
            await client.read(http, ports[n % 2], paths[n // 2 % 2])
            n += 1
            after += rebuild.done()
    stop.set()
    published = await streaming
    status, output = await rebuild

    assert status == 0, output
    assert "generation 2 is served" in output
    print(f"{n} reads of {published} registrations: {client.answers}, {client.unavailable} 503s")
    assert client.older == []
    assert client.unavailable <= n // 100  # hardly ever past the wait


# -- across a Redis restart ------------------------------------------------------------

REGISTRATIONS = 20


@pytest.mark.parametrize("comes_back", ["empty", "from an older snapshot"])
async def test_a_token_is_answered_only_once_redis_has_its_writes_again_after_a_restart(
    kafka_bootstrap_servers: str, namespace: str, tmp_path: Path, comes_back: str
) -> None:
    """A client holds the token of registrations; Redis restarts without them
    (empty, or from a snapshot taken before them), the projector stopped so that
    nothing heals meanwhile: that token gets a 503 with Retry-After, never a
    200 without them. Once a projector runs again and heals the read model
    (issue 16), the same token gets them."""
    with PersistentRedisServer(log_dir=tmp_path / "redis") as server:
        system = System(kafka_bootstrap_servers, server.url, namespace, tmp_path)
        try:
            projector = system.start("projector", **HEAL)
            system.start_api()
            await system.publish(
                [scheduled(meeting_id=1, organization_id=ORG, **FUTURE), token_issued(ORG, TOKEN)]
            )
            await system.wait_caught_up()
            await save(server)  # the snapshot: no registration yet
            older = tmp_path / "older.rdb"
            shutil.copy(server.snapshot_path, older)
            token = await system.publish(
                [
                    registration_created(registration_id=n, meeting_id=1, user_id=100 + n)
                    for n in range(1, REGISTRATIONS + 1)
                ]
            )
            held = read(system, token)
            assert held.status_code == 200
            assert held.json()["meetings"][0]["registered_attendees"] == REGISTRATIONS

            projector.stop()
            server.kill()
            if comes_back == "empty":
                server.snapshot_path.unlink()
            else:
                shutil.copy(older, server.snapshot_path)
            server.start()
            topics = system.topics.names()
            for _ in range(10):  # at once, and while the API reads Redis again
                response = read(system, token, Prefer="wait=0")
                assert_unavailable(response)
                reached = parse_token(response.headers.get("X-Consistency-Token", ""), topics)
                assert not reached.covers(parse_token(token, topics))

            system.start("projector", name="projector-again", **HEAL)
            answers: dict[int, int] = {}

            def answered() -> bool:
                response = read(system, token)  # waits for the position, at most 2 s
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                if response.status_code == 503:
                    assert_unavailable(response)
                    return False
                assert response.status_code == 200, response.text
                [meeting] = response.json()["meetings"]
                assert meeting["registered_attendees"] == REGISTRATIONS
                assert parse_token(response.headers["X-Consistency-Token"], topics).covers(
                    parse_token(token, topics)
                )
                return True

            await asyncio.to_thread(system.wait_for, answered, "the registrations again", 60)
            print(f"after the restart ({comes_back}): {answers}")
        finally:
            system.stop()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "Service Unavailable"}
    assert response.headers["retry-after"] == "1"
