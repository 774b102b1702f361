"""Generations of the read model: their lifecycle, from creation to deletion.

A generation is the whole read model under ``<prefix>:<generation>:``. The
API serves ``current``; a rebuild fills ``building``, then swaps it in; the
old one is deleted once readers have moved over.

- Creation: the first projector to start on a fresh consumer group creates
  generation "1" (``create_first_generation``); a rebuild takes the next
  number (``begin_building``). Either records the layout version it is made
  with (``keys.LAYOUT``) before anyone can see it. A generation without that
  mark was made before it existed: layout 1.
- Building: while a rebuild fills a new generation, the live projector
  writes every batch to both (``Generations.writers``), so that nothing it
  applies during the rebuild is missing from the new generation after the
  swap. It writes (and records) the new one first: at every moment after the
  swap, the new generation holds whatever the old one holds, so a reader that
  moves over never sees an older answer than one it saw before
  (docs/consistency.md). It never writes a generation of another layout than its own: it
  writes the rebuild's generation alone then, or, when there is none, refuses
  (``LayoutMismatch``) until ``python -m projector rebuild`` makes one.
- Swap (``swap``), abort (``drop_building``) and deletion
  (``delete_generation``, ``delete_other_generations``).
- The rebuild's progress (``RebuildProgress``): its generation, targets and
  positions per partition, written by the rebuild, read by it and by status.

A projector whose group has committed offsets and finds no ``current`` knows
the read model was lost (Redis restarted empty): creating a generation then
would serve a partial list. It writes nothing until a rebuild runs (the API
answers 503 meanwhile), and writes only the rebuild's generation until the swap.
It tells ``on_lost`` each time it finds the loss: the worker starts that
rebuild by itself (``projector/worker/recovery.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.typing import EncodableT, FieldT

from events.times import wall_clock_ms
from readmodel.connections import RedisClient
from readmodel.keys import LAYOUT, Control, Keyspace, as_text
from readmodel.scripts import Runner, Script
from readmodel.writer import RedisReadModel, Retention

logger = logging.getLogger(__name__)

FIRST_GENERATION = "1"
UNMARKED_LAYOUT = 1
"""The layout of a generation made before generations recorded theirs."""

REBUILD_COMMAND = "python -m projector rebuild"


class ReadModelLost(Exception):
    """No generation is served although the projector has consumed before."""


class LayoutMismatch(Exception):
    """The generations to write are of another layout than this code writes."""


class NotBuilding(Exception):
    """The generation to swap in is no longer the one being built."""


# -- layouts ----------------------------------------------------------------------


async def layout_of(redis: RedisClient, keyspace: Keyspace) -> int:
    """The layout version ``keyspace``'s generation was made with."""
    raw = await redis.get(keyspace.layout)
    return UNMARKED_LAYOUT if raw is None else int(raw)


async def mark_layout(redis: RedisClient, keyspace: Keyspace) -> None:
    """Record that ``keyspace``'s generation is made with this code's layout."""
    await redis.set(keyspace.layout, LAYOUT)


# -- creation -----------------------------------------------------------------------


async def create_first_generation(redis: RedisClient, prefix: str) -> Keyspace:
    """Serve generation "1" unless some generation is served already."""
    control = Control(prefix)
    # Marked before it can be served (NX: a generation's layout never changes).
    await redis.set(control.keyspace(FIRST_GENERATION).layout, LAYOUT, nx=True)
    await redis.set(control.generations, FIRST_GENERATION, nx=True)
    await redis.set(control.current, FIRST_GENERATION, nx=True)
    generation = await redis.get(control.current)
    assert generation is not None, "set just above"
    return control.keyspace(as_text(generation))


async def next_generation(redis: RedisClient, control: Control) -> str:
    """A generation number never handed out before, above the one served."""
    current = await redis.get(control.current)
    number = int(await redis.incr(control.generations))
    if current is not None and number <= int(current):
        await redis.set(control.generations, int(current))
        number = int(await redis.incr(control.generations))
    return str(number)


async def begin_building(redis: RedisClient, control: Control) -> str:
    """A new generation of this code's layout, which the live projector fills
    from now on too (``building``)."""
    generation = await next_generation(redis, control)
    await mark_layout(redis, control.keyspace(generation))
    await redis.set(control.building, generation)
    return generation


# -- swap and abort -------------------------------------------------------------------

_SWAP = Script("swap")


async def swap(redis: RedisClient, control: Control, generation: str) -> str | None:
    """Serve ``generation``; returns the generation served before.

    One script rather than WATCH/MULTI: atomic on a single node and in a
    cluster alike, since every control key shares the slot ``{control}``.
    Raises ``NotBuilding`` when ``generation`` is no longer being built.
    """
    keys = [control.building, control.current, control.rebuild_progress]
    reply = await _SWAP.run(Runner.of(redis), keys, [generation])
    if int(reply[0]) != 1:
        raise NotBuilding(f"generation {generation} is no longer being built")
    old = as_text(reply[1])
    return old or None


async def drop_building(
    redis: RedisClient, control: Control, generation: str, grace_s: float
) -> int:
    """Stop building ``generation`` and delete it after ``grace_s`` (live batches
    still writing it finish); returns how many keys were deleted."""
    await redis.delete(control.building, control.rebuild_progress)
    await asyncio.sleep(grace_s)
    return await delete_generation(redis, control, generation)


# -- deletion -----------------------------------------------------------------------


async def delete_generation(redis: RedisClient, control: Control, generation: str) -> int:
    """Unlink every key of a generation; returns how many."""
    match = f"{control.keyspace(generation).root}:*"
    return await unlink_matching(redis, match, lambda key: True)


async def delete_other_generations(redis: RedisClient, control: Control, keep: str) -> int:
    """Unlink keys of generations neither served nor being built: strays that a
    live batch in flight during a swap wrote after its generation was deleted."""
    building = await redis.get(control.building)
    keep_all = {keep, *([as_text(building)] if building is not None else [])}
    depth = control.prefix.count(":") + 1

    def stray(key: bytes) -> bool:
        generation = as_text(key).split(":")[depth]
        return generation.isdigit() and generation not in keep_all

    return await unlink_matching(redis, f"{control.prefix}:*", stray)


async def unlink_matching(redis: RedisClient, match: str, chosen: Callable[[bytes], bool]) -> int:
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=match, count=1000):
        if chosen(key):
            batch.append(key)
        if len(batch) >= 1000:
            deleted += await redis.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await redis.unlink(*batch)
    return deleted


# -- a rebuild's progress ---------------------------------------------------------------

Partition = tuple[str, int]
"""A topic and partition."""


def _int(value: bytes | str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


@dataclass
class RebuildProgress:
    """What ``Control.rebuild_progress`` holds: a rebuild's generation and, per
    partition, its target (where it stops) and position (how far it is)."""

    generation: str | None
    started_ms: int | None = None
    targets: dict[Partition, int] = field(default_factory=dict)
    positions: dict[Partition, int] = field(default_factory=dict)
    events_done: int | None = None
    events_total: int | None = None
    updated_ms: int | None = None

    def fields(self) -> dict[FieldT, EncodableT]:
        """The hash's fields, with the totals and the time of writing."""
        fields: dict[FieldT, EncodableT] = {
            "generation": self.generation or "",
            "started_ms": self.started_ms or 0,
            "events_total": sum(self.targets.values()),
            "events_done": sum(self.positions.values()),
            "updated_ms": wall_clock_ms(),
        }
        for (topic, partition), offset in self.targets.items():
            fields[f"target:{topic}:{partition}"] = offset
        for (topic, partition), offset in self.positions.items():
            fields[f"position:{topic}:{partition}"] = offset
        return fields

    @classmethod
    def parse(cls, fields: Mapping[Any, bytes | str]) -> RebuildProgress:
        """The hash as read (bytes or text); whatever is missing or malformed is
        left unknown, and a partition without a position is at 0."""
        text = {as_text(name): as_text(value) for name, value in fields.items()}
        targets: dict[Partition, int] = {}
        positions: dict[Partition, int] = {}
        for name, value in text.items():
            kind, _, where = name.partition(":")
            topic, _, partition = where.rpartition(":")
            number = _int(value)
            if kind in ("target", "position") and partition.isdigit() and number is not None:
                (targets if kind == "target" else positions)[topic, int(partition)] = number
        return cls(
            generation=text.get("generation") or None,
            started_ms=_int(text.get("started_ms")),
            targets=targets,
            positions={where: positions.get(where, 0) for where in targets},
            events_done=_int(text.get("events_done")),
            events_total=_int(text.get("events_total")),
            updated_ms=_int(text.get("updated_ms")),
        )


async def read_progress(redis: RedisClient, control: Control) -> RebuildProgress | None:
    """The progress of the rebuild filling ``building``, if it saved any."""
    building = await redis.get(control.building)
    fields = await redis.hgetall(control.rebuild_progress)
    progress = RebuildProgress.parse(fields)
    if building is None or progress.generation != as_text(building):
        return None
    return progress


async def save_progress(redis: RedisClient, control: Control, progress: RebuildProgress) -> None:
    await redis.hset(control.rebuild_progress, mapping=progress.fields())


# -- what the live projector writes ------------------------------------------------------


class Generations:
    """The stores of the generations the live projector must write now."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        retention: Retention,
        group_is_fresh: Callable[[], Awaitable[bool]],
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.redis = redis
        self.control = Control(prefix)
        self.retention = retention
        self._group_is_fresh = group_is_fresh
        self._on_lost = on_lost
        self._served_before = False
        self._stores: dict[str, RedisReadModel] = {}
        self._layouts: dict[str, int] = {}  # a generation's layout never changes

    async def writers(self) -> list[RedisReadModel]:
        """The one being rebuilt if any, then the served generation: those of
        this code's layout (``LayoutMismatch`` when neither is)."""
        current, building = await self.redis.mget(self.control.current, self.control.building)
        names = [as_text(name) for name in (current, building) if name is not None]
        if current is None and building is None:
            if self._served_before or not await self._group_is_fresh():
                self._on_lost()
                raise ReadModelLost(
                    "no read model generation in Redis although events were consumed "
                    "before: it is being rebuilt (`python -m projector status` shows it)"
                )
            names = [(await create_first_generation(self.redis, self.control.prefix)).generation]
        self._served_before = self._served_before or current is not None
        names = list(dict.fromkeys(names))
        for name in names:
            if name not in self._layouts:
                self._layouts[name] = await layout_of(self.redis, self.control.keyspace(name))
        own = [name for name in names if self._layouts[name] == LAYOUT]
        if not own:
            name = names[0]
            raise LayoutMismatch(
                f"generation {name} holds read model layout {self._layouts[name]} and this "
                f"projector writes layout {LAYOUT} only: run `{REBUILD_COMMAND}`"
            )
        self._layouts = {name: self._layouts[name] for name in names}
        self._stores = {name: self._stores.get(name) or self._store(name) for name in own}
        return list(reversed(self._stores.values()))  # the rebuild's first

    def _store(self, generation: str) -> RedisReadModel:
        return RedisReadModel(self.redis, self.control.keyspace(generation), self.retention)
