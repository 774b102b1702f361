"""``provide_services()``: a Kafka broker and a Redis server, from wherever they can come.

For each of the two, independently, the first that applies wins:

1. the environment: ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL``, used as they are;
2. Docker, if an engine answers (Apache Kafka and Redis containers), unless
   ``DEVSTACK_DOCKER=0``;
3. embedded: a Tansu broker / a Redis server as child processes on free ports.

Servers from the environment are shared: whoever uses them must not flush them.
"""

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from devstack.containers import docker_available, kafka_container, redis_container
from devstack.kafka import TansuBroker
from devstack.redis import RedisServer

logger = logging.getLogger(__name__)

Origin = Literal["environment", "docker", "embedded"]


@dataclass(frozen=True)
class Services:
    """Where the broker and the Redis server are, and where each came from."""

    bootstrap_servers: str
    redis_url: str
    kafka_origin: Origin
    redis_origin: Origin


@contextmanager
def provide_services(log_dir: Path | None = None) -> Iterator[Services]:
    """Yield a broker and a Redis server; stop those started here on exit.

    ``log_dir`` receives the embedded servers' logs (a temporary directory if ``None``).
    """
    env_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None
    env_redis = os.environ.get("REDIS_URL") or None
    needs_servers = env_kafka is None or env_redis is None
    use_docker = needs_servers and _docker_allowed() and docker_available()
    with ExitStack() as stack:
        kafka_origin: Origin
        if env_kafka is not None:
            bootstrap_servers, kafka_origin = env_kafka, "environment"
        elif use_docker:
            bootstrap_servers, kafka_origin = stack.enter_context(kafka_container()), "docker"
        else:
            broker = stack.enter_context(TansuBroker(log_dir=log_dir))
            bootstrap_servers, kafka_origin = broker.bootstrap_servers, "embedded"

        redis_origin: Origin
        if env_redis is not None:
            redis_url, redis_origin = env_redis, "environment"
        elif use_docker:
            redis_url, redis_origin = stack.enter_context(redis_container()), "docker"
        else:
            redis = stack.enter_context(RedisServer(log_dir=log_dir))
            redis_url, redis_origin = redis.url, "embedded"

        services = Services(bootstrap_servers, redis_url, kafka_origin, redis_origin)
        logger.info(
            "Kafka at %s (%s), Redis at %s (%s)",
            bootstrap_servers,
            kafka_origin,
            _without_password(redis_url),
            redis_origin,
        )
        yield services


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def _docker_allowed() -> bool:
    return os.environ.get("DEVSTACK_DOCKER", "1").strip().lower() not in ("0", "false", "no")
