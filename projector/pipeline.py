"""The projector's pipeline for a batch of records: decode, project, apply.

``process`` never raises (but for cancellation): a record that cannot be used
goes to its dead-letter topic, and a Redis failure is retried until the batch
is applied. So the caller may acknowledge a batch as soon as it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from events.errors import InvalidEvent
from events.models import decode_event
from projector.changes import Change, project
from projector.deadletters import DeadLetters
from projector.records import Record
from projector.retry import retry_forever

logger = logging.getLogger(__name__)


class ReadModelWriter(Protocol):
    async def apply(self, changes: Sequence[Change]) -> None: ...


class Writers(Protocol):
    """The read models a batch goes to, decided anew for every attempt."""

    async def writers(self) -> Sequence[ReadModelWriter]: ...


class OneWriter:
    """Always the same read model (a rebuild's generation, a test's store)."""

    def __init__(self, store: ReadModelWriter) -> None:
        self.store = store

    async def writers(self) -> Sequence[ReadModelWriter]:
        return [self.store]


def decode_record(record: Record) -> Change:
    """The change a record makes; ``InvalidEvent`` when it cannot be used."""
    if record.value is None:
        raise InvalidEvent("the record has no value", "no_value")
    return project(decode_event(record.value))


class Pipeline:
    def __init__(self, targets: Writers, dead_letters: DeadLetters) -> None:
        self.targets = targets
        self.dead_letters = dead_letters

    async def process(self, records: Sequence[Record]) -> None:
        changes = []
        for record in records:
            try:
                changes.append(decode_record(record))
            except InvalidEvent as exc:
                await self.reject(record, exc.reason)
            except Exception as exc:  # a bug in projecting: keep the event, go on
                logger.exception("cannot project %s", record.coordinates)
                await self.reject(record, f"cannot project: {exc!r}")
        await retry_forever(lambda: self.apply(changes), f"applying {len(changes)} changes")

    async def apply(self, changes: Sequence[Change]) -> None:
        for store in await self.targets.writers():
            await store.apply(changes)

    async def reject(self, record: Record, reason: str) -> None:
        logger.warning("dead-lettering %s: %s", record.coordinates, reason)
        await retry_forever(
            lambda: self.dead_letters.send(record, reason), f"dead-lettering {record.coordinates}"
        )
