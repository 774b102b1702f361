"""Progress of a long job: a bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

logger = logging.getLogger(__name__)


def describe(done: int, total: int, elapsed_s: float) -> str:
    """``45.0% 90,000/200,000 events, 12,345 ev/s, ETA 9s``."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    percent = 100.0 * done / total if total else 100.0
    eta = f"{(total - done) / rate:,.0f}s" if rate > 0 and done < total else "-"
    return f"{percent:5.1f}% {done:,}/{total:,} events, {rate:,.0f} ev/s, ETA {eta}"


class Progress:
    def __init__(
        self, total: int, *, done: int = 0, stream: TextIO | None = None, every_s: float = 5.0
    ) -> None:
        self.total = total
        self.done = done
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._start = time.monotonic()
        self._first = done
        self._last_log = 0.0
        self._terminal = self.stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        line = describe(self.done - self._first, self.total - self._first, now - self._start)
        if self._terminal:
            width = 30
            filled = int(width * self.done / self.total) if self.total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}")
            self.stream.flush()
        elif now - self._last_log >= self.every_s:
            self._last_log = now
            logger.info("rebuild progress: %s", line)

    def finish(self) -> None:
        if self._terminal:
            self.stream.write("\n")
        logger.info(
            "rebuild replayed %s",
            describe(
                self.done - self._first, self.total - self._first, time.monotonic() - self._start
            ),
        )
