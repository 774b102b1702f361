"""The projector's pipeline for a batch of records: decode, project, apply.

``process`` (``prepare``, then ``write``) never raises (but for cancellation):
a record that cannot be used goes to its dead-letter topic, and a Redis
failure is retried until the batch is applied. So the caller may acknowledge a
batch as soon as it returns.

What happens is told to an ``Observer`` (the worker's metrics and health; by
default nobody).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from events.errors import InvalidEvent
from events.logs import kafka_fields
from events.models import Event, decode_event
from events.retry import retry
from projector.kafka.deadletters import DeadLetters
from projector.kafka.records import Record
from projector.projection.project import project
from readmodel.changes import Change
from readmodel.positions import Run

logger = logging.getLogger(__name__)


class ReadModelWriter(Protocol):
    async def apply(self, changes: Sequence[Change]) -> None: ...


class Writers(Protocol):
    """The read models a batch goes to, decided anew for every attempt."""

    async def writers(self) -> Sequence[ReadModelWriter]: ...


class Positions(Protocol):
    """Records, after a batch's writes to a store, how far it is applied
    (``projector/worker/healing.py``)."""

    def runs(self, records: Sequence[Record]) -> list[Run]:
        """The offsets a batch covers, in the order the consumer delivered them."""

    async def record(self, store: ReadModelWriter, runs: Sequence[Run]) -> None: ...


class Observer(Protocol):
    def applied(
        self, records: Sequence[Record], event_types: Sequence[str], seconds: float
    ) -> None:
        """A batch was applied (the types of its valid events), retries included."""

    def apply_failed(self) -> None:
        """An attempt to apply a batch failed; it is retried."""

    def rejected(self, record: Record, kind: str) -> None:
        """A record was dead-lettered: ``InvalidEvent.kind``, or ``projection_error``."""


class Unobserved:
    def applied(
        self, records: Sequence[Record], event_types: Sequence[str], seconds: float
    ) -> None:
        pass

    def apply_failed(self) -> None:
        pass

    def rejected(self, record: Record, kind: str) -> None:
        pass


class OneWriter:
    """Always the same read model (a rebuild's generation, a test's store)."""

    def __init__(self, store: ReadModelWriter) -> None:
        self.store = store

    async def writers(self) -> Sequence[ReadModelWriter]:
        return [self.store]


def event_of(record: Record) -> Event:
    """The event a record holds; ``InvalidEvent`` when it cannot be used."""
    if record.value is None:
        raise InvalidEvent("the record has no value", "no_value")
    return decode_event(record.value)


def decode_record(record: Record) -> Change:
    """The change a record makes; ``InvalidEvent`` when it cannot be used."""
    return project(event_of(record))


def fields_of(record: Record) -> dict[str, object]:
    """A record's Kafka coordinates, as log fields (``events/logs.py``)."""
    return kafka_fields(record.topic, record.partition, record.offset)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch decoded and projected, its unusable records dead-lettered."""

    records: Sequence[Record]
    changes: list[Change]
    event_types: list[str]
    runs: Sequence[Run] = ()  # recorded after the writes (``Positions``)


class Pipeline:
    def __init__(
        self,
        targets: Writers,
        dead_letters: DeadLetters,
        observer: Observer | None = None,
        positions: Positions | None = None,
    ) -> None:
        self.targets = targets
        self.dead_letters = dead_letters
        self.observer = observer or Unobserved()
        self.positions = positions

    async def process(self, records: Sequence[Record]) -> None:
        await self.write(await self.prepare(records))

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        """Decode and project a batch; dead-letter what cannot be used.

        CPU only, but for dead letters: a caller may prepare a batch while the
        one before it is being written.
        """
        changes: list[Change] = []
        event_types: list[str] = []
        for record in records:
            try:
                event = event_of(record)
                changes.append(project(event))
                event_types.append(event.event_type)
            except InvalidEvent as exc:
                await self.reject(record, exc.reason, exc.kind)
            except Exception as exc:  # a bug in projecting: keep the event, go on
                logger.exception("cannot project %s", record.coordinates, extra=fields_of(record))
                await self.reject(record, f"cannot project: {exc!r}", "projection_error")
        runs = self.positions.runs(records) if self.positions is not None else []
        return Prepared(records, changes, event_types, runs)

    async def write(self, prepared: Prepared) -> None:
        """Apply a prepared batch, retrying until it is applied."""
        changes, runs = prepared.changes, prepared.runs
        started = time.perf_counter()
        await retry(lambda: self.apply(changes, runs), f"applying {len(changes)} changes")
        self.observer.applied(prepared.records, prepared.event_types, time.perf_counter() - started)

    async def apply(self, changes: Sequence[Change], runs: Sequence[Run] = ()) -> None:
        try:
            for store in await self.targets.writers():
                await store.apply(changes)
                if self.positions is not None:
                    await self.positions.record(store, runs)
        except Exception:
            self.observer.apply_failed()
            raise

    async def reject(self, record: Record, reason: str, kind: str = "broken_rule") -> None:
        logger.warning("dead-lettering %s: %s", record.coordinates, reason, extra=fields_of(record))
        self.observer.rejected(record, kind)
        await retry(
            lambda: self.dead_letters.send(record, reason), f"dead-lettering {record.coordinates}"
        )
