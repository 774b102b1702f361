"""An async publisher for upstream services.

    async with KafkaEventPublisher("kafka:9092") as publisher:
        token = await publisher.publish(event)

A bare ``host:port[,...]`` connects in plaintext; ``KafkaSettings().kafka``
reads TLS and SASL from the ``KAFKA_*`` variables (events/kafka.py).

Each event is validated (it is a model of the contract), sent to its topic
with its contract key, and confirmed by all in-sync replicas (``acks=all``).
``publish`` and ``publish_many`` return the consistency token of what they
published: sent as ``X-Consistency-Token``, it makes the API answer from a
read model that includes those events (docs/consistency.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from events.consistency import format_token, position_of
from events.errors import PublishError
from events.kafka import KafkaConnection
from events.models import Event
from events.topics import Topics, event_key

logger = logging.getLogger(__name__)


class KafkaEventPublisher:
    def __init__(self, kafka: KafkaConnection | str, topics: Topics | None = None) -> None:
        self.topics = topics or Topics()
        if isinstance(kafka, str):
            kafka = KafkaConnection(kafka)
        self._producer = AIOKafkaProducer(
            **kafka.client_options(),
            acks="all",
            linger_ms=5,
            max_batch_size=1_048_576,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise PublishError(f"cannot reach the Kafka cluster: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> KafkaEventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, event: Event) -> str:
        """Send one event and wait until the broker has it; its consistency token."""
        return await self.publish_many([event])

    async def publish_many(self, events: Iterable[Event]) -> str:
        """Send events (pipelined, in order per key) and wait for every one.

        Returns the consistency token of them all.
        """
        try:
            deliveries = [
                await self._producer.send(
                    self.topics.for_event(event),
                    key=event_key(event),
                    value=event.model_dump_json().encode(),
                )
                for event in events
            ]
            sent = await asyncio.gather(*deliveries)
        except KafkaError as exc:
            raise PublishError(f"publish failed: {exc}") from exc
        return format_token(position_of((r.topic, r.partition, r.offset) for r in sent))
