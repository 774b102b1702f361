"""Reading your own writes, with processes started as a user would (docs/consistency.md).

A publisher's token, sent as ``X-Consistency-Token``, gets an answer that
includes what it published: every time, while other events stream in.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

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
    system.start("projector")
    system.start_api()
    asyncio.run(
        system.publish(
            [scheduled(meeting_id=1, organization_id=ORG, **FUTURE), token_issued(ORG, TOKEN)]
        )
    )
    asyncio.run(system.wait_caught_up())

    stop = threading.Event()
    background = threading.Thread(target=stream_other_events, args=(system, stop))
    background.start()
    waited = 0
    try:
        for n in range(1, TRIES + 1):
            token = asyncio.run(
                system.publish(
                    [registration_created(registration_id=n, meeting_id=1, user_id=10_000 + n)]
                )
            )
            response = read(system, token)
            assert response.status_code == 200, (n, token, response.headers)
            [meeting] = response.json()["meetings"]
            assert meeting["registered_attendees"] == n, (n, token, response.headers)
            # The answer's own token covers the write's.
            assert response.headers["X-Consistency-Token"]
            waited += response.elapsed.total_seconds() > 0.01
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
