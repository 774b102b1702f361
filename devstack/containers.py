"""Apache Kafka (KRaft) and Redis in Docker, through testcontainers.

testcontainers is a development dependency, imported only when a container is
asked for. ``docker_available()`` needs nothing but the standard library.
"""

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.1"
REDIS_IMAGE = "redis:7-alpine"
DOCKER_PING_TIMEOUT = 1.0

_PING_REQUEST = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"


def docker_available(timeout: float = DOCKER_PING_TIMEOUT) -> bool:
    """Tell whether a Docker engine answers ``/_ping`` at ``$DOCKER_HOST`` (or the usual socket).

    Takes at most about ``timeout`` seconds and never raises.
    """
    try:
        with _connect_to_docker(timeout) as sock:
            sock.sendall(_PING_REQUEST)
            reply = sock.recv(64)
    except (OSError, ValueError):
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _connect_to_docker(timeout: float) -> socket.socket:
    address = urlsplit(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    if address.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.path)
        except OSError:
            sock.close()
            raise
        return sock
    if address.scheme in ("tcp", "http") and address.hostname and address.port:
        # A TLS-protected daemon (DOCKER_TLS_VERIFY) will not answer plain HTTP: fine, "no".
        return socket.create_connection((address.hostname, address.port), timeout=timeout)
    raise ValueError(f"unsupported DOCKER_HOST {address.geturl()!r}")


@contextmanager
def kafka_container(image: str = KAFKA_IMAGE) -> Iterator[str]:
    """Run a single-node Apache Kafka in KRaft mode; yield its bootstrap servers."""
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers < 4.14 keeps it here
        from testcontainers.kafka import KafkaContainer

    with KafkaContainer(image).with_kraft() as kafka:
        yield str(kafka.get_bootstrap_server())


@contextmanager
def redis_container(image: str = REDIS_IMAGE) -> Iterator[str]:
    """Run a Redis server; yield its URL (database 0)."""
    try:
        from testcontainers.community.redis import RedisContainer
    except ImportError:  # testcontainers < 4.14 keeps it here
        from testcontainers.redis import RedisContainer

    with RedisContainer(image) as redis:
        host = redis.get_container_host_ip()
        port = redis.get_exposed_port(redis.port)
        yield f"redis://{host}:{port}/0"
