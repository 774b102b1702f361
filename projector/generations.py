"""Generations of the read model: which one the API serves, which one a
rebuild is filling, and so which ones the live projector writes.

A fresh Redis has none; the first projector to start creates generation "1"
and points ``current`` at it. While a rebuild fills a new generation, the
live projector writes every batch to both, so that nothing it applies during
the rebuild is missing from the new generation after the swap.
"""

from __future__ import annotations

from redis.asyncio import Redis

from projector.keys import Control, Keyspace, as_text
from projector.store import RedisReadModel, Retention

FIRST_GENERATION = "1"


async def serving_keyspace(redis: Redis, prefix: str) -> Keyspace:
    """The keyspace of the generation being served, created if there is none."""
    control = Control(prefix)
    await redis.set(control.current, FIRST_GENERATION, nx=True)
    await redis.set(control.generations, FIRST_GENERATION, nx=True)
    generation = await redis.get(control.current)
    assert isinstance(generation, bytes), "set just above"
    return control.keyspace(generation.decode())


class Generations:
    """The stores of the generations the live projector must write now."""

    def __init__(self, redis: Redis, prefix: str, retention: Retention) -> None:
        self.redis = redis
        self.control = Control(prefix)
        self.retention = retention
        self._stores: dict[str, RedisReadModel] = {}

    async def writers(self) -> list[RedisReadModel]:
        """The served generation, and the one being rebuilt if any."""
        current, building = await self.redis.mget(self.control.current, self.control.building)
        if current is None:
            current = (await serving_keyspace(self.redis, self.control.prefix)).generation
        names = [as_text(current)]
        if building is not None and as_text(building) != names[0]:
            names.append(as_text(building))
        self._stores = {name: self._stores.get(name) or self._store(name) for name in names}
        return list(self._stores.values())

    def _store(self, generation: str) -> RedisReadModel:
        return RedisReadModel(self.redis, self.control.keyspace(generation), self.retention)
