"""Reading your own writes, with processes started as a user would (docs/consistency.md).

A publisher's token, sent as ``X-Consistency-Token``, gets an answer that
includes what it published: every time, while other events stream in.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx

from events.models import decode_event
from events.publisher import KafkaEventPublisher
from tests.builders import registration_created, scheduled, token_issued
from tests.system import System

ORG = 5
TOKEN = "consistency-token"
FUTURE = {
    "start_time": "2099-05-23T15:00:00.000Z",
    "end_time": "2099-05-23T16:00:00.000Z",
    "max_attendees": 10_000,
}
TRIES = 200
CHAINS = 4  # members registering at once, each for a meeting of its own
MEETINGS = range(1, CHAINS + 1)


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
                *(scheduled(meeting_id=m, organization_id=ORG, **FUTURE) for m in MEETINGS),
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
            assert response.headers["X-Consistency-Token"]
            waited += response.elapsed.total_seconds() > 0.01
        return waited

    async def chains() -> int:
        async with (
            KafkaEventPublisher(system.bootstrap_servers, system.topics) as publisher,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}", timeout=10) as client,
        ):
            waited = await asyncio.gather(*(chain(m, publisher, client) for m in MEETINGS))
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
