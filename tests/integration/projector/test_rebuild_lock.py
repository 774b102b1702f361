"""The rebuild lock: a live holder keeps it, a dead one's place is taken at once,
and it survives a loop too busy to renew it, unless another took it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time

import pytest

from events.times import wall_clock_ms
from projector.commands.rebuild import held
from projector.commands.rebuild_lock import Holder, LockHeld, LockLost, RebuildLock
from readmodel.connections import RedisClient

TTL_S = 0.6


def block_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a long synchronous batch does to the renewal


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


async def test_a_lapsed_lock_nobody_took_is_taken_again(redis: RedisClient, namespace: str) -> None:
    lock = RebuildLock(redis, f"{namespace}:lock", TTL_S)
    async with held(lock):
        block_the_loop(TTL_S * 2)
        assert not await redis.exists(f"{namespace}:lock")  # it did lapse
        await asyncio.sleep(TTL_S)  # the renewal runs, finds it lapsed, takes it again
        assert Holder.parse(await redis.get(lock.key)).token == lock.holder.token
        await asyncio.sleep(TTL_S * 2)  # and keeps renewing
        assert Holder.parse(await redis.get(lock.key)).token == lock.holder.token


async def test_a_lapsed_lock_another_took_stops_the_holder(
    redis: RedisClient, namespace: str
) -> None:
    lock = RebuildLock(redis, f"{namespace}:lock", TTL_S)
    other = RebuildLock(redis, f"{namespace}:lock", 10)
    with pytest.raises(LockLost, match="taken over"):
        async with held(lock):
            block_the_loop(TTL_S * 2)
            await other.acquire()
            assert other.took_over is None  # it had lapsed: simply taken
            await asyncio.sleep(TTL_S * 2)
    assert Holder.parse(await redis.get(other.key)).token == other.holder.token


async def test_a_live_holder_is_named_and_keeps_the_lock(
    redis: RedisClient, namespace: str
) -> None:
    holder = RebuildLock(redis, f"{namespace}:lock", 3.0, renew_every_s=0.2)
    async with held(holder):
        started = time.monotonic()
        with pytest.raises(LockHeld) as refused:
            await RebuildLock(redis, f"{namespace}:lock", 3.0, renew_every_s=0.2).acquire()
        assert time.monotonic() - started < 1.5  # it saw a renewal, and said so
        message = str(refused.value)
        assert message.startswith("another rebuild is running (")
        assert f"host {socket.gethostname()}, pid {os.getpid()}, since 20" in message
        assert "renewed 0." in message and "\n" not in message


async def test_a_holder_that_stopped_renewing_is_replaced_before_its_lock_expires(
    redis: RedisClient, namespace: str
) -> None:
    key = f"{namespace}:lock"
    gone = Holder("dead", "another-host", 4242, wall_clock_ms() - 60_000, wall_clock_ms() - 1_000)
    await redis.set(key, gone.value(), px=60_000)
    lock = RebuildLock(redis, key, 60.0, renew_every_s=0.3)
    started = time.monotonic()
    await lock.acquire()
    waited = time.monotonic() - started
    assert lock.took_over == gone
    assert 0.7 <= waited < 2.0  # a few renewals' worth, not the minute it had to live
    assert Holder.parse(await redis.get(key)).token == lock.holder.token
    assert 59_000 < await redis.pttl(key) <= 60_000


async def test_a_holder_of_this_host_that_has_ended_is_replaced_at_once(
    redis: RedisClient, namespace: str
) -> None:
    key = f"{namespace}:lock"
    gone = Holder("dead", socket.gethostname(), dead_pid(), wall_clock_ms(), wall_clock_ms())
    await redis.set(key, gone.value(), px=60_000)
    lock = RebuildLock(redis, key, 60.0)
    started = time.monotonic()
    await lock.acquire()
    assert time.monotonic() - started < 0.5
    assert lock.took_over == gone


async def test_an_older_versions_lock_counts_as_renewed_when_its_time_to_live_grows(
    redis: RedisClient, namespace: str
) -> None:
    key = f"{namespace}:lock"
    await redis.set(key, "a-bare-token", px=5_000)

    async def renew_as_older_versions_do() -> None:
        while True:
            await asyncio.sleep(0.2)
            await redis.pexpire(key, 5_000)

    renewing = asyncio.ensure_future(renew_as_older_versions_do())
    try:
        with pytest.raises(LockHeld, match="a rebuild of an older version"):
            await RebuildLock(redis, key, 5.0, renew_every_s=0.3).acquire()
    finally:
        renewing.cancel()
    lock = RebuildLock(redis, key, 5.0, renew_every_s=0.3)
    await lock.acquire()  # no longer renewed: taken
    assert lock.took_over == Holder("a-bare-token")
