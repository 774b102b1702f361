"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from readmodel.connections import RedisClient, connect_redis


@pytest.fixture
async def redis(redis_url: str, namespace: str) -> AsyncIterator[RedisClient]:
    """A client of the session's Redis; the test's namespace is deleted after it."""
    client = connect_redis(redis_url)
    try:
        yield client
    finally:
        async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            await client.unlink(key)
        await client.aclose()
