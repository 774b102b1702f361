"""The projector's command line: ``python -m projector [worker]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projector.settings import ProjectorSettings
from projector.topics import ensure_topics

logger = logging.getLogger("projector")


class StartupError(Exception):
    """A dependency stayed unreachable through the start-up retries."""


async def _until(what: str, attempt: object, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await attempt()  # type: ignore[operator]
            return
        except (KafkaError, RedisError, OSError) as exc:
            if loop.time() >= deadline:
                raise StartupError(f"{what} unreachable: {exc!r}") from exc
            logger.info("waiting for %s: %r", what, exc)
            await asyncio.sleep(1.0)


async def prepare(settings: ProjectorSettings) -> None:
    """Make sure Kafka (with every topic) and Redis are there, within bounds."""
    topics = settings.topics
    await _until(
        f"Kafka at {settings.kafka_bootstrap_servers}",
        lambda: ensure_topics(
            settings.kafka_bootstrap_servers,
            [*topics.names(), *topics.dead_letters()],
            settings.topic_partitions,
            settings.replication_factor,
        ),
        settings.startup_timeout_s,
    )

    async def ping() -> None:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    await _until(f"Redis at {settings.redis_url}", ping, settings.startup_timeout_s)


def run_worker(settings: ProjectorSettings) -> int:
    from faust import Worker

    from projector.app import create_app

    try:
        asyncio.run(prepare(settings))
    except StartupError as exc:
        print(f"projector: {exc}", file=sys.stderr)
        return 1
    app = create_app(settings)
    worker = Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projector")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("worker", help="consume the topics into the read model (default)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = ProjectorSettings()
    except ValidationError as exc:
        print(f"projector: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.command in (None, "worker"):
        return run_worker(settings)
    parser.error(f"unknown command {args.command}")
    return 2
