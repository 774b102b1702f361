"""Creating the topics the projector needs (Faust needs them before it starts)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from events.kafka import KafkaConnection

logger = logging.getLogger(__name__)

# The read model is rebuilt by replaying topics from their beginning, and dead
# letters must never be lost: nothing may expire.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


async def ensure_topics(
    kafka: KafkaConnection, names: Iterable[str], partitions: int, replication_factor: int
) -> None:
    """Create each missing topic; existing ones keep their settings."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if not missing:
            return
        logger.info("creating topics %s", ", ".join(missing))
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker was faster
            await admin.create_topics(
                [
                    NewTopic(name, partitions, replication_factor, topic_configs=KEEP_FOREVER)
                    for name in missing
                ]
            )
    finally:
        await admin.close()
