"""Clients of the projector's commands (the Faust app makes its own Kafka ones)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def connect_redis(url: str, max_connections: int = 16) -> Redis:
    """A client on a blocking pool (redis-py's default pool raises when full)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    return Redis.from_pool(pool)  # the client owns the pool and closes it
