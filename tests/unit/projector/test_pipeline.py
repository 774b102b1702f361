"""The pipeline never loses a record: it retries the store, dead-letters the unusable."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from projector.kafka.records import Record
from projector.projection.memory import InMemoryReadModel
from projector.worker.pipeline import OneWriter, Pipeline
from readmodel.changes import Change, PlaceMeeting
from tests.builders import NOW_MS, encode, scheduled


class FlakyStore:
    """The reference model behind a connection that fails a few times first."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.model = InMemoryReadModel()

    async def apply(self, changes: Sequence[Change]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise RedisConnectionError("connection refused")
        self.model.apply(changes)


class InMemoryDeadLetters:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[Record, str]] = []

    async def send(self, record: Record, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("broker unreachable")
        self.sent.append((record, reason))


def record(offset: int, value: bytes | None, topic: str = "meeting-events") -> Record:
    return Record(topic, 0, offset, b"1", value)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(_: float) -> None:
        return None

    monkeypatch.setattr("events.retry.asyncio.sleep", sleep)


async def test_a_failing_store_is_retried_until_the_batch_is_applied() -> None:
    store = FlakyStore(failures=3)
    pipeline = Pipeline(OneWriter(store), InMemoryDeadLetters())

    await pipeline.process([record(0, encode(scheduled(meeting_id=1, organization_id=5)))])

    assert store.attempts == 4
    assert store.model.page(5, NOW_MS, 0, 20).total_items == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no value"),
        (b"{nope", "Invalid JSON"),
        (json.dumps({"event_type": "meeting.moved"}).encode(), "meeting.moved"),
        (encode(scheduled(meeting_id=0)), "meeting_id"),
    ],
)
async def test_unusable_records_are_dead_lettered_and_the_rest_applied(
    value: bytes | None, reason: str
) -> None:
    store, dead_letters = FlakyStore(failures=0), InMemoryDeadLetters(failures=2)
    pipeline = Pipeline(OneWriter(store), dead_letters)
    good = record(1, encode(scheduled(meeting_id=1, organization_id=5)))

    await pipeline.process([record(0, value), good])

    ((dead, why),) = dead_letters.sent
    assert dead == record(0, value)
    assert reason in why
    assert store.model.page(5, NOW_MS, 0, 20).total_items == 1


async def test_a_bug_in_projecting_dead_letters_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: object) -> PlaceMeeting:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("projector.worker.pipeline.project", broken)
    dead_letters = InMemoryDeadLetters()

    await Pipeline(OneWriter(FlakyStore(failures=0)), dead_letters).process(
        [record(0, encode(scheduled(meeting_id=1)))]
    )

    ((_, why),) = dead_letters.sent
    assert "cannot project" in why
