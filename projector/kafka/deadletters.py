"""Dead letters: records the projector cannot use, kept unchanged in ``<topic>.dlq``."""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

from events.topics import dlq_topic
from projector.kafka.records import Record


def dead_letter_headers(record: Record, reason: str) -> list[tuple[str, bytes]]:
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
    ]


class DeadLetters(Protocol):
    async def send(self, record: Record, reason: str) -> None: ...


class KafkaDeadLetters:
    """Sends dead letters and waits until every in-sync replica has them."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, record: Record, reason: str) -> None:
        await self._producer.send_and_wait(
            dlq_topic(record.topic),
            key=record.key,
            value=record.value,
            headers=dead_letter_headers(record, reason),
        )
