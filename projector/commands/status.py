"""``python -m projector status``: how far the projector is, and what it serves.

Reads, never writes: the consumer group's committed offsets against each
partition's true end (high watermark), the generation served and any rebuild,
counts in the served generation, and the workers' heartbeats. Informational,
so it exits 0 whatever it finds; 1 only when Kafka or Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from events.times import wall_clock_ms
from projector.commands.rebuild_lock import Holder
from projector.kafka.offsets import PartitionLag, read_lag
from projector.settings import ProjectorSettings
from projector.worker.startup import StartupError
from readmodel.connections import RedisClient, connect_redis
from readmodel.generations import RebuildProgress
from readmodel.keys import Control, Keyspace, as_text

TIMEOUT_S = 5.0
SCAN_COUNT = 1000
RESUME = "paused (resume with `python -m projector rebuild`)"
REGISTRATION = re.compile(rb"\d+")
"""A field of a meeting's state: a registration's id (its value: the user, or x once canceled)."""
REGISTRATIONS_LABEL = "registrations (distinct active users per meeting, summed)"


# The pure part: the report and how it reads.


@dataclass(frozen=True, slots=True)
class Rebuild:
    """A rebuild in progress: ``building`` set, and what its progress hash says."""

    generation: str
    running: bool  # its lock is held; else it is paused
    events_done: int | None = None
    events_total: int | None = None
    started_ms: int | None = None
    updated_ms: int | None = None
    partitions: tuple[tuple[str, int, int], ...] = ()  # "topic[p]", position, target
    holder_host: str | None = None  # who holds the lock (rebuild_lock.py)
    holder_pid: int | None = None
    holder_since_ms: int | None = None
    lock_renewed_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    organizations: int
    upcoming_meetings: int
    registrations: int


@dataclass(frozen=True, slots=True)
class Worker:
    worker: str
    state: str | None = None
    at_ms: int | None = None
    last_applied_ms: int | None = None
    newest_event_ms: int | None = None
    events_applied: int | None = None


@dataclass(frozen=True, slots=True)
class Served:
    """What Redis says: the generation served, any rebuild, counts, the workers."""

    current: str | None
    rebuild: Rebuild | None = None
    counts: Counts | None = None  # of the served generation
    workers: tuple[Worker, ...] = ()

    @property
    def newest_event_ms(self) -> int | None:
        """The newest event any worker has applied."""
        return max((w.newest_event_ms for w in self.workers if w.newest_event_ms), default=None)


@dataclass(frozen=True, slots=True)
class Status:
    group_id: str
    partitions: tuple[PartitionLag, ...]
    served: Served


def parse_rebuild(
    building: str, locked: bool, fields: Mapping[str, str], holder: Holder | None = None
) -> Rebuild:
    """What the rebuild command left in ``rebuild:progress`` (tolerating any of it missing)."""
    progress = RebuildProgress.parse(fields)
    places = {f"{topic}[{partition}]": (topic, partition) for topic, partition in progress.targets}
    return Rebuild(
        generation=progress.generation or building,
        running=locked,
        events_done=progress.events_done,
        events_total=progress.events_total,
        started_ms=progress.started_ms,
        updated_ms=progress.updated_ms,
        partitions=tuple(
            (name, progress.positions[where], progress.targets[where])
            for name, where in sorted(places.items())
        ),
        holder_host=None if holder is None else holder.host,
        holder_pid=None if holder is None else holder.pid,
        holder_since_ms=None if holder is None else holder.since_ms,
        lock_renewed_ms=None if holder is None else holder.renewed_ms,
    )


def parse_worker(worker_id: str, raw: str) -> Worker:
    """A heartbeat (JSON object); whatever is missing or malformed is left unknown."""
    try:
        beat = json.loads(raw)
    except ValueError:
        beat = None
    if not isinstance(beat, dict):
        return Worker(worker_id, state="unreadable heartbeat")
    state = beat.get("state")
    return Worker(
        worker=worker_id,
        state=None if state is None else str(state),
        at_ms=_int(beat.get("at_ms")),
        last_applied_ms=_int(beat.get("last_applied_ms")),
        newest_event_ms=_int(beat.get("newest_event_ms")),
        events_applied=_int(beat.get("events_applied")),
    )


def is_upcoming(state: Iterable[bytes | str | None], now_ms: int) -> bool:
    """A meeting state's ``org``, ``term`` and ``en``: listed and not yet ended."""
    org, term, end = (None if value is None else as_text(value) for value in state)
    end_ms = _int(end)
    return bool(org) and term != "1" and end_ms is not None and end_ms > now_ms


def active_users(state: Mapping[bytes, bytes]) -> set[bytes]:
    """The users with an active registration, in a meeting's state."""
    return {user for field, user in state.items() if REGISTRATION.fullmatch(field) and user != b"x"}


def format_age(now_ms: int, then_ms: int | None) -> str:
    if then_ms is None:
        return "unknown"
    seconds = max(now_ms - then_ms, 0) // 1000
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if seconds >= size:
            rest = (seconds % size) // smaller_size
            return f"{seconds // size}{unit} {rest}{smaller} ago"
    return f"{seconds}s ago"


def format_seconds(seconds: float | None) -> str:
    """How long the oldest pending record has waited, ``-`` when not read."""
    return "-" if seconds is None else f"{seconds:,.1f}s"


def format_rebuild(rebuild: Rebuild | None, now_ms: int) -> list[str]:
    if rebuild is None:
        return ["rebuild      none in progress"]
    state = "running" if rebuild.running else RESUME
    lines = [f"rebuild      generation {rebuild.generation}, {state}"]
    if rebuild.running and rebuild.holder_host is not None:
        lines.append(
            f"             lock held by {rebuild.holder_host} pid {rebuild.holder_pid} "
            f"since {format_age(now_ms, rebuild.holder_since_ms)}, "
            f"renewed {format_age(now_ms, rebuild.lock_renewed_ms)}"
        )
    if rebuild.events_total is None or rebuild.events_done is None:
        return [*lines, "             no progress reported yet"]
    total, done = rebuild.events_total, rebuild.events_done
    percent = 100.0 * done / total if total else 100.0
    lines.append(
        f"             {done:,}/{total:,} events ({percent:.1f}%), "
        f"started {format_age(now_ms, rebuild.started_ms)}, "
        f"updated {format_age(now_ms, rebuild.updated_ms)}"
    )
    width = max((len(where) for where, _, _ in rebuild.partitions), default=0)
    lines += [
        f"             {where:<{width}}  {position:>12,} / {target:,}"
        for where, position, target in rebuild.partitions
    ]
    return lines


def format_status(status: Status, now_ms: int) -> str:
    lines = [f"consumer group {status.group_id}"]
    rows = [("topic", "partition", "committed", "end", "lag", "behind")]
    rows += [
        (
            p.topic,
            str(p.partition),
            f"{p.committed:,}",
            f"{p.end:,}",
            f"{p.lag:,}",
            format_seconds(p.lag_seconds(now_ms)),
        )
        for p in status.partitions
    ]
    committed = sum(p.committed for p in status.partitions)
    end = sum(p.end for p in status.partitions)
    lag = sum(p.lag for p in status.partitions)
    behind = max((p.lag_seconds(now_ms) or 0.0 for p in status.partitions), default=0.0)
    rows.append(("total", "", f"{committed:,}", f"{end:,}", f"{lag:,}", format_seconds(behind)))
    if not status.partitions:
        lines.append("  no source topics yet")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [
                row[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
            ]
            lines.append("  " + "  ".join(cells))
    return "\n".join([*lines, "", *format_served(status.served, now_ms)])


def format_served(served: Served, now_ms: int) -> list[str]:
    lines = [f"generation   {served.current or 'none served yet'}"]
    lines += format_rebuild(served.rebuild, now_ms)
    if served.counts is not None:
        counts = [
            ("organizations", served.counts.organizations),
            ("upcoming meetings", served.counts.upcoming_meetings),
            (REGISTRATIONS_LABEL, served.counts.registrations),
        ]
        width = max(len(label) for label, _ in counts)
        lines += ["", f"served generation {served.current}:"]
        lines += [f"  {label:<{width}}  {count:>10,}" for label, count in counts]
    lines += ["", f"workers (newest applied event {format_age(now_ms, served.newest_event_ms)})"]
    if not served.workers:
        lines.append("  no projector worker has reported")
    width = max((len(w.worker) for w in served.workers), default=0)
    for w in served.workers:
        applied = "" if w.events_applied is None else f", {w.events_applied:,} events applied"
        lines.append(
            f"  {w.worker:<{width}}  {w.state or 'unknown state'}, "
            f"heartbeat {format_age(now_ms, w.at_ms)}, "
            f"newest applied event {format_age(now_ms, w.newest_event_ms)}{applied}"
        )
    return lines


def status_json(status: Status, now_ms: int) -> dict[str, Any]:
    served = status.served
    document: dict[str, Any] = {"now_ms": now_ms, "group_id": status.group_id}
    document["partitions"] = [
        {**asdict(p), "lag": p.lag, "lag_seconds": p.lag_seconds(now_ms)} for p in status.partitions
    ]
    document["totals"] = {
        "committed": sum(p.committed for p in status.partitions),
        "end": sum(p.end for p in status.partitions),
        "lag": sum(p.lag for p in status.partitions),
    }
    document["current"] = served.current
    document["rebuild"] = None
    if served.rebuild is not None:
        document["rebuild"] = {
            **asdict(served.rebuild),
            "paused": not served.rebuild.running,
            "partitions": [
                {"partition": where, "position": position, "target": target}
                for where, position, target in served.rebuild.partitions
            ],
        }
    document["counts"] = None if served.counts is None else asdict(served.counts)
    document["newest_event_ms"] = served.newest_event_ms
    document["workers"] = [asdict(worker) for worker in served.workers]
    return document


# The I/O part.


async def read_offsets(settings: ProjectorSettings) -> tuple[PartitionLag, ...]:
    servers = settings.kafka
    probe = AIOKafkaConsumer(**servers.client_options(), request_timeout_ms=int(TIMEOUT_S * 1000))
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await probe.start()
            await probe.topics()  # a metadata round trip (and lets its tasks start)
        async with asyncio.timeout(6 * TIMEOUT_S):
            lags = await read_lag(
                servers,
                settings.group_id,
                settings.topics.names(),
                with_ages=True,
                timeout_s=TIMEOUT_S,
            )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise StartupError(f"Kafka at {servers} unreachable: {exc!r}") from exc
    finally:
        await probe.stop()
    return tuple(lags)


@dataclass(frozen=True, slots=True)
class ControlState:
    """The control keys: the generation served, any rebuild, the heartbeats."""

    current: str | None
    rebuild: Rebuild | None
    beats: dict[str, str]  # worker id -> heartbeat JSON


async def read_control(redis: RedisClient, prefix: str) -> ControlState:
    """One pipeline of the control keys (also the worker's gauges' read)."""
    control = Control(prefix)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(control.current)
        pipe.get(control.building)
        pipe.get(control.rebuild_lock)
        pipe.hgetall(control.rebuild_progress)
        pipe.hgetall(control.heartbeats)
        current, building, lock, progress, beats = await pipe.execute()
    rebuild = None
    if building is not None:
        holder = None if lock is None else Holder.parse(lock)
        rebuild = parse_rebuild(as_text(building), lock is not None, _texts(progress), holder)
    return ControlState(None if current is None else as_text(current), rebuild, _texts(beats))


async def read_served(redis: RedisClient, prefix: str, now_ms: int) -> Served:
    """Everything status reads in Redis."""
    state = await read_control(redis, prefix)
    workers = tuple(parse_worker(k, v) for k, v in sorted(state.beats.items()))
    counts = None
    if state.current is not None:
        counts = await count(redis, Control(prefix).keyspace(state.current), now_ms)
    return Served(state.current, state.rebuild, counts, workers)


async def count(redis: RedisClient, keyspace: Keyspace, now_ms: int) -> Counts:
    """Organizations, upcoming meetings and registrations of one generation (SCAN, no KEYS)."""
    organizations = int(await redis.scard(keyspace.orgs))
    upcoming = registrations = 0
    batch: list[bytes] = []
    pattern = _glob_escape(keyspace.root) + ":{m*}"

    async def tally(states: list[bytes]) -> None:
        nonlocal upcoming, registrations
        async with redis.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.hmget(state, "org", "term", "en")
                pipe.hgetall(state)
            replies = await pipe.execute()
        for state, fields in zip(replies[::2], replies[1::2], strict=True):
            upcoming += is_upcoming(state, now_ms)
            registrations += len(active_users(fields))

    async for key in redis.scan_iter(match=pattern, count=SCAN_COUNT):
        if key.endswith(b"}"):  # a meeting's state hash
            batch.append(key)
        if len(batch) >= SCAN_COUNT:
            await tally(batch)
            batch = []
    if batch:
        await tally(batch)
    return Counts(organizations, upcoming, registrations)


async def gather_status(settings: ProjectorSettings, now_ms: int) -> Status:
    redis = connect_redis(
        settings.redis,
        timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        socket_timeout=TIMEOUT_S,
    )
    try:
        offsets, served = await asyncio.gather(
            read_offsets(settings), _read_redis(redis, settings, now_ms)
        )
    finally:
        await redis.aclose()
    return Status(settings.group_id, offsets, served)


async def run(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    now_ms = wall_clock_ms()
    status = await gather_status(settings, now_ms)
    if args.json:
        sys.stdout.write(json.dumps(status_json(status, now_ms), indent=2) + "\n")
    else:
        sys.stdout.write(format_status(status, now_ms) + "\n")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status", help="offsets and lag, generations and rebuilds, counts, workers"
    )
    status.add_argument("--json", action="store_true", help="a JSON document")
    status.set_defaults(run=run)


async def _read_redis(redis: RedisClient, settings: ProjectorSettings, now_ms: int) -> Served:
    try:
        async with asyncio.timeout(6 * TIMEOUT_S):
            return await read_served(redis, settings.key_prefix, now_ms)
    except (RedisError, OSError, TimeoutError) as exc:
        raise StartupError(f"Redis at {settings.redis} unreachable: {exc!r}") from exc


def _texts(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in mapping.items()}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            return None
    return None
