"""The rebuild lock survives a loop too busy to renew it, unless another took it."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import LockNotOwnedError

from projector.commands.rebuild import held
from readmodel.connections import RedisClient

TTL_S = 0.6


def block_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a long synchronous batch does to the renewal


async def test_a_lapsed_lock_nobody_took_is_taken_again(redis: RedisClient, namespace: str) -> None:
    lock = redis.lock(f"{namespace}:lock", timeout=TTL_S)
    async with held(lock):
        block_the_loop(TTL_S * 2)
        assert not await redis.exists(f"{namespace}:lock")  # it did lapse
        await asyncio.sleep(TTL_S)  # the renewal runs, finds it lapsed, takes it again
        assert await lock.owned()
        await asyncio.sleep(TTL_S * 2)  # and keeps renewing
        assert await lock.owned()


async def test_a_lapsed_lock_another_took_stops_the_holder(
    redis: RedisClient, namespace: str
) -> None:
    lock = redis.lock(f"{namespace}:lock", timeout=TTL_S)
    other = redis.lock(f"{namespace}:lock", timeout=10)
    with pytest.raises(ExceptionGroup) as stopped:
        async with held(lock):
            block_the_loop(TTL_S * 2)
            assert await other.acquire(blocking=False)
            await asyncio.sleep(TTL_S * 2)
    assert stopped.group_contains(LockNotOwnedError)
    assert await other.owned()
