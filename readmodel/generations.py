"""Generations of the read model: which one the API serves, which one a
rebuild is filling, and so which ones the live projector writes.

The first projector to start on a fresh consumer group creates generation "1"
and points ``current`` at it. While a rebuild fills a new generation, the live
projector writes every batch to both, so that nothing it applies during the
rebuild is missing from the new generation after the swap.

A projector whose group has committed offsets and finds no ``current`` knows
the read model was lost (Redis restarted empty): creating a generation then
would serve a partial list. It writes nothing until a rebuild runs (the API
answers 503 meanwhile), and writes only the rebuild's generation until the swap.
It tells ``on_lost`` each time it finds the loss: the worker starts that
rebuild by itself (``projector/worker/recovery.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from readmodel.connections import RedisClient
from readmodel.keys import Control, Keyspace, as_text
from readmodel.writer import RedisReadModel, Retention

logger = logging.getLogger(__name__)

FIRST_GENERATION = "1"


class ReadModelLost(Exception):
    """No generation is served although the projector has consumed before."""


async def create_first_generation(redis: RedisClient, prefix: str) -> Keyspace:
    """Serve generation "1" unless some generation is served already."""
    control = Control(prefix)
    await redis.set(control.generations, FIRST_GENERATION, nx=True)
    await redis.set(control.current, FIRST_GENERATION, nx=True)
    generation = await redis.get(control.current)
    assert generation is not None, "set just above"
    return control.keyspace(as_text(generation))


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

    async def writers(self) -> list[RedisReadModel]:
        """The served generation, and the one being rebuilt if any."""
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
        self._stores = {name: self._stores.get(name) or self._store(name) for name in names}
        return list(self._stores.values())

    def _store(self, generation: str) -> RedisReadModel:
        return RedisReadModel(self.redis, self.control.keyspace(generation), self.retention)
