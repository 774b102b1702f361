"""Consistency tokens: positions in the event topics, as text.

A position is a set of ``topic:partition:offset`` entries. Each says: the
record at ``offset`` of that partition, and every record before it there, is
included. A publisher's token names the records it published (what any Kafka
producer gets back for them); the API's token names what the read model it
answered from has applied (docs/consistency.md).

    registration-events:3:1841,meeting-events:0:77

``parse_token`` accepts exactly that (entries in any order, a partition named
twice keeps its highest offset; no entry at all names the empty position) and
refuses anything else with ``InvalidToken``; ``format_token`` writes it,
sorted, so equal positions give equal tokens.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

MAX_TOKEN_BYTES = 8 * 1024
MAX_ENTRIES = 1_000

Partition = tuple[str, int]

# Kafka's own rule for topic names; partitions and offsets are plain decimals.
_ENTRY = re.compile(r"([a-zA-Z0-9._-]{1,249}):(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,18})")
_MAX_OFFSET = 2**63 - 1
_MAX_PARTITION = 2**31 - 1


class InvalidToken(ValueError):
    """A token that is not a list of ``topic:partition:offset`` entries of known topics."""


@dataclass(frozen=True, slots=True)
class Position:
    """The offset included on each partition: (topic, partition) -> offset."""

    offsets: Mapping[Partition, int]

    def covers(self, other: Position) -> bool:
        """Whether every record ``other`` includes is included here."""
        mine = self.offsets
        return all(mine.get(partition, -1) >= offset for partition, offset in other.offsets.items())

    def merged(self, other: Position) -> Position:
        """The highest offset of both on every partition either names."""
        offsets = dict(self.offsets)
        for partition, offset in other.offsets.items():
            if offset > offsets.get(partition, -1):
                offsets[partition] = offset
        return Position(offsets)

    def __bool__(self) -> bool:
        return bool(self.offsets)


EMPTY = Position({})


def position_of(entries: Iterable[tuple[str, int, int]]) -> Position:
    """The position of (topic, partition, offset) entries, such as a producer's records."""
    offsets: dict[Partition, int] = {}
    for topic, partition, offset in entries:
        if offset > offsets.get((topic, partition), -1):
            offsets[(topic, partition)] = offset
    return Position(offsets)


def parse_token(token: str, topics: Collection[str]) -> Position:
    """The position a token names; ``InvalidToken`` unless every entry is well formed.

    ``topics`` are the topics a token may name (the read model's sources).
    """
    if len(token.encode()) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"over {MAX_TOKEN_BYTES} bytes")
    if not token.strip(" \t"):
        return EMPTY  # what the API answers before anything is applied
    parts = token.split(",")
    if len(parts) > MAX_ENTRIES:
        raise InvalidToken(f"over {MAX_ENTRIES} entries")
    entries = []
    for part in parts:
        match = _ENTRY.fullmatch(part.strip(" \t"))
        if match is None:
            raise InvalidToken("an entry is not topic:partition:offset")
        topic, partition, offset = match[1], int(match[2]), int(match[3])
        if topic not in topics:
            raise InvalidToken("an entry names an unknown topic")
        if partition > _MAX_PARTITION or offset > _MAX_OFFSET:
            raise InvalidToken("a partition or offset is out of range")
        entries.append((topic, partition, offset))
    return position_of(entries)


def format_token(position: Position) -> str:
    """The token of a position: its entries sorted by topic, then partition."""
    return ",".join(
        f"{topic}:{partition}:{offset}"
        for (topic, partition), offset in sorted(position.offsets.items())
    )
