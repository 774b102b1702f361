"""Waiting, within bounds, for the services a command needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from events.config import ConfigError
from projector.kafka.topics import ensure_topics
from projector.settings import ProjectorSettings
from readmodel.connections import check_redis, connect_redis

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """A dependency stayed unreachable through the start-up retries."""


async def retry_until(
    what: str, attempt: Callable[[], Awaitable[object]], timeout_s: float
) -> None:
    """Run ``attempt`` until it succeeds; ``StartupError`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await attempt()
            return
        except (KafkaError, RedisError, OSError) as exc:
            if loop.time() >= deadline:
                raise StartupError(f"{what} unreachable: {exc!r}") from exc
            logger.info("waiting for %s: %r", what, exc)
            await asyncio.sleep(1.0)


async def prepare(settings: ProjectorSettings) -> None:
    """Make sure Kafka (with every topic) and Redis are there, within bounds."""
    topics = settings.topics
    await retry_until(
        f"Kafka at {settings.kafka}",
        lambda: ensure_topics(
            settings.kafka,
            [*topics.names(), *topics.dead_letters()],
            settings.topic_partitions,
            settings.replication_factor,
        ),
        settings.startup_timeout_s,
    )

    async def ping() -> None:
        redis = connect_redis(settings.redis, socket_connect_timeout=2)
        try:
            await check_redis(redis, settings.redis)
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc  # no use waiting
        finally:
            await redis.aclose()

    await retry_until(f"Redis at {settings.redis}", ping, settings.startup_timeout_s)
