"""Waiting, within bounds, for the services a command needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from events.config import ConfigError
from events.retry import retry
from projector.kafka.topics import ensure_topics
from projector.settings import ProjectorSettings
from readmodel.connections import check_redis, connect_redis

UNREACHABLE = (KafkaError, RedisError, OSError)


class StartupError(Exception):
    """A dependency stayed unreachable through the start-up retries."""


async def wait_for(what: str, attempt: Callable[[], Awaitable[object]], timeout_s: float) -> None:
    """Run ``attempt`` until it succeeds; ``StartupError`` after ``timeout_s``."""
    try:
        await retry(attempt, what, errors=UNREACHABLE, timeout_s=timeout_s, max_delay_s=1.0)
    except UNREACHABLE as exc:
        raise StartupError(f"{what} unreachable: {exc!r}") from exc


async def prepare(settings: ProjectorSettings) -> None:
    """Make sure Kafka (with every topic) and Redis are there, within bounds."""
    topics = settings.topics
    await wait_for(
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

    await wait_for(f"Redis at {settings.redis}", ping, settings.startup_timeout_s)
