"""Generations of the read model: which one the API serves.

A fresh Redis has none; the first projector to start creates generation "1"
and points ``<prefix>:current`` at it.
"""

from __future__ import annotations

from redis.asyncio import Redis

from projector.keys import Keyspace, current_generation_key

FIRST_GENERATION = "1"


async def serving_keyspace(redis: Redis, prefix: str) -> Keyspace:
    """The keyspace of the generation being served, created if there is none."""
    key = current_generation_key(prefix)
    await redis.set(key, FIRST_GENERATION, nx=True)
    generation = await redis.get(key)
    assert isinstance(generation, bytes), "set just above"
    return Keyspace(prefix, generation.decode())
