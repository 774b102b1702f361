"""Clients of the projector's commands (the Faust app makes its own Kafka ones)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from projector.resp import LeanRedis


def connect_redis(url: str, max_connections: int = 16) -> Redis:
    """A client on a blocking pool (redis-py's default pool raises when full),
    with the lean non-transactional pipelines of ``projector.resp``."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    return LeanRedis.from_pool(pool)  # the client owns the pool and closes it
