"""A child process in its own process group, stopped for sure.

Every started ``ChildProcess`` is stopped when the interpreter exits normally,
so an exception or a forgotten ``stop()`` leaves no orphan behind.
"""

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TextIO

logger = logging.getLogger(__name__)

KILL_TIMEOUT = 5.0
"""Seconds to wait for a process to die after SIGKILL."""

_running: set["ChildProcess"] = set()
_write_lock = threading.Lock()


class Started:
    """``start()`` on entering a ``with`` block, ``stop()`` on leaving it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ChildProcess(Started):
    """A command run in a new session, so that it and its children form one group.

    Its output (stdout and stderr together) goes to ``output``: appended to a
    log file when that is a path, else copied line by line to that stream with
    a ``[name]`` prefix.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        output: Path | TextIO,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.output = output
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._forwarder: threading.Thread | None = None
        self._recent_lines: deque[str] = deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended, else ``None``."""
        return self._popen.poll() if self._popen is not None else None

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running")
        logger.debug("starting %s: %s", self.name, " ".join(self.argv))
        if isinstance(self.output, Path):
            with self.output.open("ab") as log_file:
                self._popen = self._spawn(log_file)
        else:
            self._popen = self._spawn(subprocess.PIPE)
            self._forwarder = threading.Thread(
                target=self._forward_output,
                args=(self._popen.stdout, self.output),
                name=f"{self.name}-output",
                daemon=True,
            )
            self._forwarder.start()
        _running.add(self)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM to the group, SIGKILL after ``timeout`` s; return the exit status."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
                self._signal_group(signal.SIGKILL)
                popen.wait(KILL_TIMEOUT)
        # Whatever the process left behind in its group goes too.
        self._signal_group(signal.SIGKILL)
        if self._forwarder is not None:
            self._forwarder.join(KILL_TIMEOUT)
            self._forwarder = None
        _running.discard(self)
        return popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole group at once: no clean shutdown, as in a crash."""
        if self._popen is not None and self._popen.poll() is None:
            self._signal_group(signal.SIGKILL)
            self._popen.wait(KILL_TIMEOUT)

    def last_lines(self, count: int = 20) -> list[str]:
        """The last lines of output, read back from the log file or kept while forwarding."""
        if isinstance(self.output, Path):
            try:
                text = self.output.read_text(errors="replace")
            except OSError:
                return []
            return text.splitlines()[-count:]
        return list(self._recent_lines)[-count:]

    def _spawn(self, stdout: IO[bytes] | int) -> "subprocess.Popen[bytes]":
        return subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )

    def _signal_group(self, signum: signal.Signals) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self._popen.pid, signum)

    def _forward_output(self, source: IO[bytes] | None, sink: TextIO) -> None:
        """Each line with a ``[name]`` prefix; a JSON log line (``LOG_FORMAT=json``)
        stays one JSON object, with the name as its ``process`` field."""
        if source is None:
            return
        prefix = _colour(f"[{self.name}]", sink) + " "
        with source:
            for raw in source:
                line = raw.decode(errors="replace").rstrip()
                self._recent_lines.append(line)
                try:
                    with _write_lock:
                        sink.write(tagged(line, self.name) or prefix + line)
                        sink.write("\n")
                        sink.flush()
                except (OSError, ValueError):
                    pass  # the sink is closed; keep draining so the child never blocks


_COLOURS = ("36", "35", "33", "32", "34")


def _colour(text: str, stream: TextIO) -> str:
    if not stream.isatty() or os.environ.get("NO_COLOR"):
        return text
    code = _COLOURS[sum(text.encode()) % len(_COLOURS)]
    return f"\033[{code}m{text}\033[0m"


@atexit.register
def _stop_all() -> None:
    for child in list(_running):
        child.stop(timeout=KILL_TIMEOUT)


def tagged(line: str, name: str) -> str | None:
    """A JSON object's line with ``"process": name`` added; None for any other line."""
    if not line.startswith("{"):
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    document.setdefault("process", name)
    return json.dumps(document)
