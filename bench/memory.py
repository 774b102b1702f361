"""Where Redis's bytes go: ``used_memory``, and ``MEMORY USAGE`` per kind of key.

``key_kind`` names a key of the layout in ``projector/keys.py`` by its role
(the per-meeting state, each list of an organization, the global keys), and
``usage_by_kind`` adds up ``MEMORY USAGE <key> SAMPLES 0`` (every element
counted, not an estimate) over every key of a generation, keeping the
organizations named in ``apart`` (the EAP organizations, whose lists hold the
copies) in kinds of their own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection

from redis.asyncio import Redis

from projector.keys import Keyspace

_ORG_KEY = re.compile(r"\{o(\d+)\}:([a-z]+)")
_MEETING_KEY = re.compile(r"\{m\d+\}(?::([a-z]+))?$")

MEETING_KINDS = {None: "meeting state", "r": "meeting registrations", "u": "meeting users"}
ORG_KINDS = {
    "start": "list by start",
    "end": "list by end",
    "doc": "documents",
    "meta": "write keys (meta)",
    "s": "series lists",
    "u": "members' lists",
    "p": "meeting followers",
    "tok": "tokens",
}


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


def key_kind(key: str, apart: Collection[int] = ()) -> tuple[str, str]:
    """(group, kind) of a key: group is "meeting", "organization", "EAP org" or "global"."""
    if (meeting := _MEETING_KEY.search(key)) is not None:
        return "meeting", MEETING_KINDS.get(meeting.group(1), "meeting other")
    if (org := _ORG_KEY.search(key)) is not None:
        group = "EAP org" if int(org.group(1)) in apart else "organization"
        return group, ORG_KINDS.get(org.group(2), "other")
    return "global", "global"


async def usage_by_kind(
    redis: Redis, keyspace: Keyspace, apart: Collection[int] = (), chunk: int = 2000
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """Bytes and number of keys per (group, kind), over every key of the generation."""
    usage: Counter[tuple[str, str]] = Counter()
    keys: Counter[tuple[str, str]] = Counter()
    batch: list[str] = []

    async def measure() -> None:
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(batch, await pipe.execute(), strict=True):
            kind = key_kind(key, apart)
            usage[kind] += int(size or 0)
            keys[kind] += 1
        batch.clear()

    async for raw in redis.scan_iter(match=f"{keyspace.root}:*", count=chunk):
        batch.append(raw.decode() if isinstance(raw, bytes) else raw)
        if len(batch) >= chunk:
            await measure()
    if batch:
        await measure()
    return usage, keys
