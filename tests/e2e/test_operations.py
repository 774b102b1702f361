"""Operators' commands end to end: rebuild (under load, killed, resumed, aborted), verify."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.process import ChildProcess
from events.models import decode_event
from events.times import wall_clock_ms
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from readmodel.documents import expand
from readmodel.keys import Control, entry
from tests.builders import at, registration_created, scheduled
from tests.faultproxy import FlakyProxy
from tests.histories import random_history
from tests.system import System

TOKEN = "ops-token"
LOCK_TTL_S = 4
FAST = {"PROJECTOR_REBUILD_LOCK_TTL_S": str(LOCK_TTL_S), "PROJECTOR_GENERATION_GRACE_S": "2"}


def reference_of(events: list[dict[str, Any]]) -> InMemoryReadModel:
    reference = InMemoryReadModel()
    reference.apply([project(decode_event(json.dumps(event))) for event in events])
    return reference


def answers(reference: InMemoryReadModel, organizations: list[int]) -> dict[int, list[Any]]:
    now = wall_clock_ms()
    return {
        org: [json.loads(doc) for doc in reference.page(org, now, 0, 100).meetings]
        for org in organizations
    }


async def history_in_place(system: System, seed: int, events: int) -> tuple[list[Any], list[int]]:
    """A random history published and projected; no meeting ends within the hour."""
    history, organizations = random_history(
        random.Random(seed), meetings=300, events=events, token=TOKEN, earliest_start_h=1
    )
    system.start("projector")
    await system.wait_for_topics()
    await system.publish(history)  # while the projector joins its group
    system.start_api()
    await system.wait_caught_up()
    return history, organizations


async def progress_of(system: System) -> dict[bytes, bytes]:
    redis = Redis.from_url(system.redis_url)
    try:
        return await redis.hgetall(Control(system.namespace).rebuild_progress)
    finally:
        await redis.aclose()


async def wait_for_progress(system: System, events_done: int, timeout_s: float = 60) -> None:
    """Until the rebuild has replayed ``events_done`` events (0: until it has
    saved its plan, its targets fixed)."""
    deadline = time.monotonic() + timeout_s
    while int((await progress_of(system)).get(b"events_done", b"-1")) < events_done:
        if time.monotonic() > deadline:
            pytest.fail(f"the rebuild did not reach {events_done} events")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def slow_redis(system: System, latency_s: float) -> Iterator[tuple[FlakyProxy, str]]:
    """A proxy in front of the test's Redis, and its URL: for a rebuild that
    must still be replaying at some point, whatever the machine's speed.

    A rebuild saves each batch's positions, then its progress, one batch after
    the other: two round trips a batch, each at least ``2 * latency_s`` through
    the proxy. So it replays at most ``batch_size / (4 * latency_s)`` events a
    second (``proxy.latency_s`` can be changed meanwhile; 0 lets it go).
    """
    url = urlsplit(system.redis_url)
    assert url.hostname is not None and url.port is not None, system.redis_url
    port = free_port()
    userinfo = url.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    with FlakyProxy(port, url.hostname, url.port, latency_s) as proxy:
        yield proxy, url._replace(netloc=netloc).geturl()


async def finished(process: ChildProcess, timeout_s: float = 120) -> int:
    """``process``'s exit status, once it has exited."""
    deadline = time.monotonic() + timeout_s
    while process.returncode is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{process.name} did not finish: {process.last_lines()}")
        await asyncio.sleep(0.1)
    return process.returncode


async def document(system: System, generation: str, organization_id: int, meeting_id: int) -> Any:
    """A meeting's document as a generation holds it; None if it has none."""
    redis = Redis.from_url(system.redis_url)
    try:
        keys = Control(system.namespace).keyspace(generation).org(organization_id)
        raw = await redis.hget(keys.doc, entry(meeting_id))
    finally:
        await redis.aclose()
    return None if raw is None else json.loads(expand(raw))


async def generation_keys(system: System, generation: str) -> int:
    redis = Redis.from_url(system.redis_url)
    try:
        return len([k async for k in redis.scan_iter(match=f"{system.namespace}:{generation}:*")])
    finally:
        await redis.aclose()


async def test_rebuild_swaps_generations_while_every_request_gets_a_right_answer(
    system: System,
) -> None:
    history, organizations = await history_in_place(system, seed=1, events=2_000)
    late = [  # published during the rebuild: must be in the new generation
        scheduled(
            meeting_id=5000,
            organization_id=1,
            start_time=at(wall_clock_ms() + 7_200_000),
            end_time=at(wall_clock_ms() + 9_000_000),
        ),
        registration_created(registration_id=90_000, meeting_id=5000, user_id=77),
    ]
    before = answers(reference_of(history), organizations)
    after = answers(reference_of(history + late), organizations)

    wrong: list[str] = []
    served = 0
    rebuilt = asyncio.Event()

    async def hammer() -> None:
        """Until 50 answers once the rebuild is over (readers moved, generation 1 deleted)."""
        nonlocal served
        once_rebuilt = 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}") as client:
            while once_rebuilt < 50:
                once_rebuilt += rebuilt.is_set()
                org = random.choice(organizations)
                response = await client.get(
                    f"/api/v2/organizations/{org}/upcoming_meetings",
                    params={"items": 100},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                served += 1
                if response.status_code != 200:
                    wrong.append(f"{org}: {response.status_code} {response.text}")
                elif response.json()["meetings"] not in (before[org], after[org]):
                    wrong.append(f"{org}: a wrong list")

    async def operate() -> tuple[int, str]:
        # Batches of 10 through a 20 ms link: at most 125 events/s, until held.
        with slow_redis(system, latency_s=0.02) as (link, url):
            rebuild = system.start(
                "projector",
                "rebuild",
                name="rebuild",
                REDIS_URL=url,
                PROJECTOR_REBUILD_BATCH_SIZE="10",
                **{**FAST, "PROJECTOR_REBUILD_LOCK_TTL_S": "60"},  # held past renewals
            )
            await wait_for_progress(system, 0)  # its targets are fixed
            link.hold()
            await system.publish(late)
            await system.wait_caught_up()  # the live projector has written them
            progress = await progress_of(system)
            # Past the replay's targets, and the replay not over: only the live
            # projector, writing to generation 2 as well, can have put them there
            # (after the swap, healing would hide its failing to).
            assert int(progress[b"events_total"]) == len(history), progress
            assert int(progress[b"events_done"]) < len(history), progress
            (late_meeting,) = [m for m in after[1] if m["id"] == 5000]
            assert await document(system, "2", 1, 5000) == late_meeting
            link.latency_s = 0
            link.release()
            status = await finished(rebuild)
        rebuilt.set()
        return status, (system.log_dir / "rebuild.log").read_text()

    (status, output), _ = await asyncio.gather(operate(), hammer())

    assert status == 0, output
    assert "generation 2 is served" in output and "generation 1 deleted" in output
    assert served > 100
    assert wrong == []
    await system.wait_caught_up()
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == after[org]
    assert await generation_keys(system, "1") == 0


async def test_a_rebuild_killed_again_and_again_is_started_again_at_once(system: System) -> None:
    """A running rebuild refuses a second one, naming itself; once SIGKILLed, the
    next one takes its place at once (not when its lock expires) and resumes."""
    history, organizations = await history_in_place(system, seed=2, events=4_000)
    total = len(history)
    with slow_redis(system, latency_s=0.005) as (link, url):
        # Batches of 20: at most 1,000 events/s through the link, 100 at 50 ms;
        # so each rebuild below is still replaying when it is killed.
        held = {
            **FAST,
            "PROJECTOR_REBUILD_BATCH_SIZE": "20",
            "PROJECTOR_REBUILD_LOCK_TTL_S": "60",
        }
        rebuild = system.start("projector", "rebuild", name="rebuild-1", REDIS_URL=url, **held)
        await wait_for_progress(system, 200)
        link.latency_s = 0.05  # while the second one starts and watches the lock
        status, output = system.run("projector", "rebuild", **held)
        assert status == 1, output
        (refusal,) = [line for line in output.splitlines() if "another rebuild is running" in line]
        assert f"pid {rebuild.pid}, since " in refusal and "renewed " in refusal

        killed_at = 0
        for attempt in range(2, 5):
            rebuild.kill()
            # What it sent before it died is still on its way through the link.
            system.wait_for(lambda: link.open_connections == 0, "the killed rebuild's writes")
            killed_at = int((await progress_of(system)).get(b"events_done", total))
            assert killed_at < total, "the rebuild was to be killed while replaying"
            link.latency_s = 0.005
            started = time.monotonic()
            rebuild = system.start(
                "projector", "rebuild", name=f"rebuild-{attempt}", REDIS_URL=url, **held
            )
            await wait_for_progress(system, killed_at + 300)
            assert time.monotonic() - started < 30  # the dead one's lock had a minute to live
            log = (system.log_dir / f"rebuild-{attempt}.log").read_text()
            assert "stopped renewing it: taking its place" in log
            resumed = re.search(r"resuming the rebuild of generation 2 at (\d+) of", log)
            assert resumed is not None and int(resumed.group(1)) == killed_at
        link.latency_s = 0
        assert await finished(rebuild) == 0
    assert "generation 2 is served" in (system.log_dir / "rebuild-4.log").read_text()

    expected = answers(reference_of(history), organizations)
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected[org]
    status, output = system.run("projector", "verify")
    assert status == 0, output


async def test_an_aborted_rebuild_leaves_the_served_generation_alone(system: System) -> None:
    history, _ = await history_in_place(system, seed=3, events=2_000)
    # Batches of 20 through a 10 ms link: at most 500 events/s, killed while replaying.
    with slow_redis(system, latency_s=0.01) as (_, url):
        rebuild = system.start(
            "projector",
            "rebuild",
            name="rebuild-1",
            REDIS_URL=url,
            PROJECTOR_REBUILD_BATCH_SIZE="20",
            **FAST,
        )
        await wait_for_progress(system, 200)
        rebuild.kill()  # its lock stays, but the next rebuild sees it is dead
    killed_at = int((await progress_of(system)).get(b"events_done", len(history)))
    assert killed_at < len(history), "the rebuild was to be killed while replaying"
    assert await generation_keys(system, "2") > 0  # what the abort must delete

    status, output = system.run("projector", "rebuild", "--abort", **FAST)

    assert status == 0 and "rebuild of generation 2 aborted" in output, output
    assert await progress_of(system) == {}
    assert await generation_keys(system, "2") == 0
    assert system.get("/readyz").json()["generation"] == "1"


async def test_a_workers_rebuild_of_a_lost_read_model_finds_it_served_and_does_nothing(
    system: System,
) -> None:
    """``rebuild --if-lost`` (a worker's, for a lost read model) that finds a
    generation served once it holds the lock replays nothing: as when a second
    worker's gets the lock after the first worker's rebuild has swapped."""
    await history_in_place(system, seed=7, events=200)

    status, output = system.run("projector", "rebuild", "--if-lost", **FAST)

    assert status == 0 and "nothing to rebuild" in output, output
    assert await progress_of(system) == {}
    assert await generation_keys(system, "2") == 0
    assert system.get("/readyz").json()["generation"] == "1"


async def test_verify_agrees_then_names_each_difference(system: System) -> None:
    history, organizations = await history_in_place(system, seed=4, events=3_000)
    status, output = system.run("projector", "verify")
    assert status == 0, output
    assert "agree" in output

    org, meeting = next(
        (org, meetings[0])
        for org, meetings in answers(reference_of(history), organizations).items()
        if meetings
    )
    tampered = {**meeting, "registered_attendees": meeting["registered_attendees"] + 5}
    redis = Redis.from_url(system.redis_url)
    try:
        await redis.hset(
            f"{system.namespace}:1:{{o{org}}}:doc",
            entry(meeting["id"]),
            json.dumps(tampered, separators=(",", ":")),
        )
    finally:
        await redis.aclose()

    status, output = system.run("projector", "verify")

    assert status == 1
    assert (
        f"organization {org}: meeting {meeting['id']}: registered_attendees: "
        f"expected {meeting['registered_attendees']}, found {tampered['registered_attendees']}"
    ) in output


async def test_a_lost_read_model_answers_503_until_rebuilt_never_a_partial_list(
    system: System,
) -> None:
    """The projector rebuilds it by itself (``tests/e2e/test_faults.py`` restarts a
    private Redis for real); until then the API answers 503."""
    history, organizations = await history_in_place(system, seed=5, events=2_000)
    redis = Redis.from_url(system.redis_url)
    try:  # what a Redis restarted empty looks like to this namespace
        keys = [key async for key in redis.scan_iter(match=f"{system.namespace}:*")]
        await redis.delete(*keys)
    finally:
        await redis.aclose()
    now = wall_clock_ms()
    late = [
        scheduled(
            meeting_id=7000,
            organization_id=1,
            start_time=at(now + 7_200_000),
            end_time=at(now + 9_000_000),
        )
    ]
    await system.publish(late)  # the projector must not recreate a partial generation 1
    expected = answers(reference_of(history + late), organizations)
    statuses: list[int] = []

    def rebuilt() -> bool:
        org = organizations[0]
        response = system.get(f"/api/v2/organizations/{org}/upcoming_meetings", TOKEN, items=100)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.json() == {"error": "Service Unavailable"}
            return False
        assert response.status_code == 200, response.text
        assert response.json()["meetings"] == expected[org]
        return True

    system.wait_for(rebuilt, "the projector to rebuild the read model by itself", 90)
    assert statuses[0] == 503
    await system.wait_caught_up()
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected[org]
    status, output = system.run("projector", "rebuild", **FAST)  # an operator's still works
    assert status == 0, output


async def test_a_rebuild_leaves_no_keys_of_older_generations(system: System) -> None:
    history, organizations = await history_in_place(system, seed=6, events=500)
    redis = Redis.from_url(system.redis_url)
    try:  # what a live batch in flight during an earlier swap could leave behind
        await redis.set(f"{system.namespace}:7:{{o1}}:start", "stray")
    finally:
        await redis.aclose()

    status, output = system.run("projector", "rebuild", **FAST)

    assert status == 0, output
    assert "1 keys of older generations deleted" in output
    assert await generation_keys(system, "7") == 0
    assert await generation_keys(system, "2") > 0
    expected = answers(reference_of(history), organizations)
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected[org]
