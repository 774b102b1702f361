"""Where Redis's bytes go: ``used_memory``, and ``MEMORY USAGE`` per kind of key.

    .venv/bin/python -m bench.memory [--meetings 50000] [--organizations 240] ...

loads the read model of ``bench/dataset.py`` into a private Redis and prints
bytes per upcoming meeting (EAP copies not counted), and per kind of key the
bytes, the number of keys and their encodings (``OBJECT ENCODING``).

``key_kind`` names a key of the layout in ``readmodel/keys.py`` by its role
(the per-meeting state, each list of an organization, the global keys), and
``census`` adds up ``MEMORY USAGE <key> SAMPLES 0`` (every element
counted, not an estimate) over every key of a generation, keeping the
organizations named in ``apart`` (the EAP organizations, whose lists hold the
copies) in kinds of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from bench.dataset import Dataset, Shape, build_dataset, load
from bench.report import machine, mb, table
from devstack.redis import RedisServer, find_redis_server
from readmodel.keys import Keyspace, as_text

PREFIX = "um"
SHAPE_OPTIONS = ("organizations", "meetings", "weeks", "eap_organizations", "registrations", "seed")
TARGET_BYTES = 1024

_ORG_KEY = re.compile(r"\{o(\d+)\}:([a-z]+)")
_MEETING_KEY = re.compile(r"\{m\d+\}(?::([a-z]+))?$")

MEETING_KINDS = {None: "meeting state"}
ORG_KINDS = {
    "start": "list by start",
    "end": "list by end",
    "doc": "documents",
    "meta": "write keys (meta)",
    "s": "series lists",
    "users": "members' lists",
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


@dataclass(slots=True)
class Census:
    """Per (group, kind): bytes, keys, and keys per encoding."""

    usage: Counter[tuple[str, str]] = field(default_factory=Counter)
    keys: Counter[tuple[str, str]] = field(default_factory=Counter)
    encodings: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    # Redis's own time in the scripts (commandstats EVALSHA) while the meetings
    # were loaded, and how many calls: the projector's cost inside Redis.
    script_usec: int = 0
    script_calls: int = 0


async def census(
    redis: Redis, keyspace: Keyspace, apart: Collection[int] = (), chunk: int = 2000
) -> Census:
    """``MEMORY USAGE`` and ``OBJECT ENCODING`` of every key of the generation, by kind."""
    found = Census()
    batch: list[str] = []

    async def measure() -> None:
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
            pipe.object("encoding", key)
        replies = await pipe.execute()
        for key, size, encoding in zip(batch, replies[::2], replies[1::2], strict=True):
            kind = key_kind(key, apart)
            found.usage[kind] += int(size or 0)
            found.keys[kind] += 1
            found.encodings.setdefault(kind, Counter())[as_text(encoding or b"-")] += 1
        batch.clear()

    async for raw in redis.scan_iter(match=f"{keyspace.root}:*", count=chunk):
        batch.append(raw.decode() if isinstance(raw, bytes) else raw)
        if len(batch) >= chunk:
            await measure()
    if batch:
        await measure()
    return found


async def load_and_count(url: str, data: Dataset) -> tuple[dict[str, int], Census]:
    """Load the dataset; used_memory (less client buffers) after each phase, and the census."""
    redis = Redis.from_url(url)
    used: dict[str, int] = {}

    scripts: dict[str, int] = {}

    async def after(phase: str) -> None:
        clients = int((await redis.info("memory"))["mem_clients_normal"])
        used[phase] = await used_memory(redis) - clients
        if phase == "empty":
            await redis.config_resetstat()
        elif phase == "meetings":
            evalsha = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
            scripts.update(usec=int(evalsha.get("usec", 0)), calls=int(evalsha.get("calls", 0)))

    try:
        await load(redis, PREFIX, data, after)
        found = await census(redis, Keyspace(PREFIX, "1"), apart=data.hpc_of)
    finally:
        await redis.aclose()
    found.script_usec, found.script_calls = scripts["usec"], scripts["calls"]
    return used, found


def figures(data: Dataset, used: dict[str, int], found: Census) -> dict[str, object]:
    """Bytes per upcoming meeting (EAP copies not counted), per EAP copy, and per kind of key."""
    copies = used["links"] - used["meetings"]
    # As in report(): a meeting's state per upcoming meeting, an organization's
    # keys per meeting of the organizations without EAP links.
    listed = {
        "meeting": data.upcoming,
        "organization": data.upcoming - sum(data.meetings_of[org] for org in data.hpc_of),
    }
    return {
        "bytes_per_meeting": round((used["meetings"] - used["empty"]) / data.upcoming),
        "bytes_per_eap_copy": round(copies / max(1, data.eap_copies)),
        "target_bytes": TARGET_BYTES,
        "by_kind": {
            kind: round(size / max(1, listed[group]))
            for (group, kind), size in sorted(found.usage.items(), key=lambda item: -item[1])
            if group in listed
        },
    }


def report(data: Dataset, used: dict[str, int], found: Census) -> str:
    meetings = used["meetings"] - used["empty"]
    copies = used["links"] - used["meetings"]
    per_meeting = meetings / data.upcoming
    events = len(data.tokens) + sum(len(meeting) for meeting in data.meetings)
    eap_own = sum(data.meetings_of[org] for org in data.hpc_of)
    listed = {
        "meeting": data.upcoming,
        "organization": data.upcoming - eap_own,
        "EAP org": eap_own + data.eap_copies,
        "global": data.upcoming,
    }
    lines = [
        f"{data.upcoming:,} upcoming meetings in {data.shape.organizations} organizations, "
        f"{len(data.series_of):,} series, {data.registrations:,} registrations; "
        f"{len(data.hpc_of)} EAP links making {data.eap_copies:,} copies",
        f"used_memory less client buffers: empty {mb(used['empty'])}; + meetings "
        f"{mb(meetings)}; + EAP links {mb(copies)}",
        f"per upcoming meeting, EAP copies not counted: {per_meeting:,.0f} B "
        f"(target < {TARGET_BYTES:,} B: {'met' if per_meeting < TARGET_BYTES else 'missed'}); "
        f"per EAP copy: {copies / max(1, data.eap_copies):,.0f} B",
        f"Redis time in the scripts while the meetings loaded: {found.script_usec / 1e3:,.0f} ms "
        f"in {found.script_calls:,} calls, {found.script_usec / max(1, events):.1f} µs per event "
        f"({events:,} events, batches of 1,000 meetings)",
    ]
    rows = [
        [
            group,
            kind,
            f"{found.keys[group, kind]:,}",
            mb(size),
            f"{size / max(1, listed[group]):,.0f}",
            ", ".join(f"{enc} {n:,}" for enc, n in found.encodings[group, kind].most_common()),
        ]
        for (group, kind), size in sorted(found.usage.items(), key=lambda item: -item[1])
    ]
    header = ["group", "kind", "keys", "size", "B per meeting", "encodings (keys)"]
    lines.append(
        "MEMORY USAGE ... SAMPLES 0 of every key, per meeting listed in the group "
        "(meetings of non-EAP organizations; own meetings and copies of EAP ones):"
    )
    lines.append(table(header, rows, indent="  "))
    counted = sum(found.usage.values())
    lines.append(
        f"MEMORY USAGE adds up to {mb(counted)} of {mb(used['links'] - used['empty'])}; "
        "the rest is the keyspace's own hash tables and allocator rounding"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name in SHAPE_OPTIONS:
        default = getattr(Shape(), name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args(argv)
    data = build_dataset(Shape(**{name: getattr(args, name) for name in SHAPE_OPTIONS}))
    with RedisServer(log_dir=Path(tempfile.mkdtemp(prefix="bench-memory-"))) as redis:
        used, found = asyncio.run(load_and_count(redis.url, data))
    print(machine(str(find_redis_server())))
    print(report(data, used, found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
