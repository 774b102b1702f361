"""Events from a JSON Lines file: all of them valid, or the reasons why not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from events.errors import InvalidEvent
from events.models import Event, decode_event


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int  # 1-based
    reason: str


def read_events(lines: Iterable[str]) -> tuple[list[Event], list[BadLine]]:
    """Every event of ``lines`` (blank lines skipped), and every line that is not one."""
    events: list[Event] = []
    bad: list[BadLine] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(decode_event(line))
        except InvalidEvent as exc:
            bad.append(BadLine(number, exc.reason))
    return events, bad
