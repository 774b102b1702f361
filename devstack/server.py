"""``EmbeddedServer``: a server binary run as a child process on a loopback port."""

import logging
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

from devstack.errors import ServiceStartError
from devstack.ports import LOOPBACK, free_port, is_port_free
from devstack.process import ChildProcess, Started

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
"""Seconds between two readiness probes."""


class EmbeddedServer(Started, ABC):
    """Start, stop and restart a server on a fixed port; a context manager too.

    Subclasses name the server, give its command line and say whether it answers.
    The port is chosen once (a free one unless given), so a restart keeps it.
    The server's output is appended to ``log_path`` in ``log_dir`` (a new
    temporary directory unless given).
    """

    name: str

    def __init__(
        self,
        port: int | None = None,
        *,
        log_dir: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self._port_chosen_here = port is None
        self.log_dir = (
            log_dir if log_dir is not None else Path(tempfile.mkdtemp(prefix="devstack-"))
        )
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: ChildProcess | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server on ``self.port``."""

    @abstractmethod
    def answers(self) -> bool:
        """Tell, within a second or so and without raising, whether the server serves."""

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.port}.log"

    def environment(self) -> dict[str, str] | None:
        """The server's environment; ``None`` inherits this process's."""
        return None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the server has ended by itself, else ``None``."""
        return self._process.returncode if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running()

    def last_lines(self, count: int = 20) -> list[str]:
        """The last lines of the server's log."""
        try:
            return self.log_path.read_text(errors="replace").splitlines()[-count:]
        except OSError:
            return []

    def start(self) -> None:
        """Start the server and return once it answers; raise ``ServiceStartError`` if not."""
        if self.is_running():
            return
        if not is_port_free(self.port) and self._port_chosen_here and self._process is None:
            self.port = free_port()  # taken since it was chosen; it is still ours to change
        if not is_port_free(self.port):
            raise ServiceStartError(f"{self.name}: port {self.port} on {self.host} is in use")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._process = ChildProcess(
            self.name, self.command(), self.log_path, env=self.environment(), cwd=self.log_dir
        )
        self._process.start()
        try:
            self._wait_until_answering(self._process)
        except BaseException:
            self.stop()
            raise
        logger.info("%s is up on %s:%d (log: %s)", self.name, self.host, self.port, self.log_path)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); do nothing if it is not running."""
        if self._process is not None:
            self._process.stop(self.stop_timeout)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def _wait_until_answering(self, process: ChildProcess) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not process.is_running():
                raise ServiceStartError(
                    f"{self.name} exited with status {process.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n" + "\n".join(self.last_lines())
                )
            if self.answers():
                return
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"{self.name} did not answer on {self.host}:{self.port} within "
                    f"{self.start_timeout:.0f} s; see {self.log_path}"
                )
            time.sleep(POLL_INTERVAL)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"
