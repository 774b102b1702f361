"""The whole system end to end, processes started as a user starts them."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from events.kafka import KafkaConnection
from events.models import decode_event
from events.times import wall_clock_ms
from events.topics import dlq_topic
from projector.kafka.offsets import lag
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from tests.builders import (
    canceled,
    eap_linked,
    scheduled,
    token_issued,
)
from tests.examples import example_events as source_example_events
from tests.examples import example_meetings
from tests.histories import random_history
from tests.system import System

TOKEN = "e2e-token"

# The source document's example, a year later (into the future).
EXAMPLE = example_meetings(2027)


def example_events() -> list[dict[str, Any]]:
    return [*source_example_events(2027), token_issued(organization_id=5, token=TOKEN)]


async def test_the_source_documents_example_end_to_end(system: System) -> None:
    system.start("projector")
    system.start_api()
    await system.publish(example_events())
    await system.wait_caught_up()

    response = system.get("/api/v2/organizations/5/upcoming_meetings", TOKEN)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["current_page", "items", "total_items", "total_pages", "meetings"]
    assert body == {
        "current_page": 1,
        "items": 20,
        "total_items": 2,
        "total_pages": 1,
        "meetings": EXAMPLE,
    }
    assert [list(meeting) for meeting in body["meetings"]] == [list(m) for m in EXAMPLE]
    series = system.upcoming(5, TOKEN, meeting_series_id=412, page=1, items=20)
    assert series["meetings"] == EXAMPLE[:1] and series["total_items"] == 1


async def test_a_canceled_meeting_leaves_and_an_eap_link_adds_the_hpc_list(system: System) -> None:
    system.start("projector")
    system.start_api()
    hpc_meeting = scheduled(
        meeting_id=777,
        organization_id=900,
        start_time="2027-06-01T10:00:00Z",
        end_time="2027-06-01T11:00:00Z",
        meeting_series_id=None,
    )
    await system.publish(
        [
            *example_events(),
            hpc_meeting,
            eap_linked(organization_id=5, hpc_organization_id=900, version=1),
        ]
    )
    await system.wait_caught_up()
    assert [m["id"] for m in system.upcoming(5, TOKEN)["meetings"]] == [9123, 9124, 777]

    await system.publish([canceled(meeting_id=9124, organization_id=5, version=2)])
    await system.wait_caught_up()
    body = system.upcoming(5, TOKEN)
    assert [m["id"] for m in body["meetings"]] == [9123, 777]
    assert body["total_items"] == 2


async def test_unusable_events_go_to_their_dead_letter_topic_and_the_rest_is_applied(
    system: System,
) -> None:
    system.start("projector")
    system.start_api()
    topics = system.topics
    bad = [
        (topics.meetings, b"{not json", b"1"),
        (
            topics.registrations,
            b'{"event_id":"x","event_type":"registration.teleported",'
            b'"occurred_at":"2026-05-01T12:00:00Z","data":{}}',
            None,
        ),
        (
            topics.cancellations,
            b'{"event_id":"y","event_type":"meeting.canceled",'
            b'"occurred_at":"2026-05-01T12:00:00Z","data":{"meeting_id":0,"organization_id":5,'
            b'"version":1}}',
            b"0",
        ),
    ]
    for topic, value, key in bad:
        await system.publish_raw(topic, value, key)
    await system.publish(example_events())
    await system.wait_caught_up()

    assert system.upcoming(5, TOKEN)["total_items"] == 2
    for topic, value, key in bad:
        (record,) = await read_all(system.bootstrap_servers, dlq_topic(topic))
        headers = {name: data.decode() for name, data in record.headers}
        assert (record.key, record.value) == (key, value)
        assert headers["dlq.topic"] == topic
        assert headers["dlq.partition"].isdigit() and headers["dlq.offset"].isdigit()
        assert headers["dlq.reason"]


async def read_all(bootstrap_servers: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list[Any] = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            records = [r for batch in batches.values() for r in batch]
        return records
    finally:
        await consumer.stop()


def expected_pages(events: list[dict[str, Any]], organizations: list[int]) -> dict[int, Any]:
    reference = InMemoryReadModel()
    import json

    reference.apply([project(decode_event(json.dumps(event))) for event in events])
    now = wall_clock_ms()
    return {
        org: [json.loads(doc) for doc in reference.page(org, now, 0, 100).meetings]
        for org in organizations
    }


async def test_two_projectors_at_once_give_the_single_reference_answer(system: System) -> None:
    rng = random.Random(20261123)
    history, organizations = random_history(rng, meetings=60, events=1500, token=TOKEN)
    system.start("projector", name="projector-1")
    system.start("projector", name="projector-2")
    system.start_api()
    half = len(history) // 2
    await system.publish(history[:half])
    await system.publish(history[half:])
    await system.wait_caught_up()

    expected = expected_pages(history, organizations)
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected[org], org


async def test_a_killed_projector_resumes_and_converges(system: System) -> None:
    rng = random.Random(7)
    history, organizations = random_history(rng, meetings=40, events=1200, token=TOKEN)
    projector = system.start("projector")
    system.start_api()
    await system.publish(history[:600])
    kafka = KafkaConnection(system.bootstrap_servers)
    while await lag(kafka, system.group_id, system.topics.names()) >= 600:  # noqa: ASYNC110 - polls another process
        await asyncio.sleep(0.05)  # until it has committed something
    projector.kill()  # no clean shutdown, no last commit
    await system.publish(history[600:])
    system.start("projector", name="projector-again")
    await system.wait_caught_up()

    expected = expected_pages(history, organizations)
    for org in organizations:
        assert system.upcoming(org, TOKEN, items=100)["meetings"] == expected[org], org


def test_a_projector_without_kafka_stops_with_one_line(system: System) -> None:
    process = system.start(
        "projector", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", PROJECTOR_STARTUP_TIMEOUT_S="1"
    )
    system.wait_for(lambda: process.returncode is not None, "the projector to give up", 30)
    assert process.returncode == 1
    assert "unreachable" in (system.log_dir / "projector.log").read_text().splitlines()[-1]


def test_an_api_without_redis_stops_with_one_line(system: System) -> None:
    process = system.start("api", REDIS_URL="redis://127.0.0.1:1/0", API_STARTUP_TIMEOUT_S="1")
    system.wait_for(lambda: process.returncode is not None, "the API to give up", 30)
    assert process.returncode == 1
    assert "unreachable" in (system.log_dir / "api.log").read_text().splitlines()[-1]
