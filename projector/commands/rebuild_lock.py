"""The rebuild lock: one rebuild at a time, and a dead one's place taken at once.

The lock (``Control.rebuild_lock``) holds its holder: a random token, the
host, the process id, when it took the lock and when it last renewed it
(``"<token>|<host>|<pid>|<since ms>|<renewed ms>"``), and expires unless
renewed (``PROJECTOR_REBUILD_LOCK_TTL_S``). The holder renews it every
``renew_every_s``, well within that.

A rebuild that finds the lock held does not wait for it to expire. It watches
it for ``patience_s`` (a few renewals): a holder that renews meanwhile is
alive, and the rebuild refuses, naming it (``LockHeld``); one that does not
(or a process of this host that no longer exists) is dead, and the lock is
taken over in one script, only if it still holds what was watched. The new
rebuild then resumes from the saved progress.

A lock written by an older version (a bare token) counts as renewed when its
time to live grows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from events.times import wall_clock_ms
from readmodel.connections import RedisClient
from readmodel.keys import as_text
from readmodel.scripts import lua_source

POLL_S = 0.2
TTL_ROUNDING_MS = 2  # PTTL is whole milliseconds


class LockHeld(Exception):
    """Another rebuild is alive and holds the lock."""


class LockLost(Exception):
    """The lock was taken over or expired while this rebuild held it."""


def format_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the lock, as its value says (``None`` fields: an older lock)."""

    token: str
    host: str | None = None
    pid: int | None = None
    since_ms: int | None = None
    renewed_ms: int | None = None

    @classmethod
    def parse(cls, value: bytes | str) -> Holder:
        parts = as_text(value).split("|")
        if len(parts) != 5 or not all(p.isdigit() for p in parts[2:]):
            return cls(as_text(value))
        token, host, pid, since, renewed = parts
        return cls(token, host, int(pid), int(since), int(renewed))

    def value(self) -> str:
        return f"{self.token}|{self.host}|{self.pid}|{self.since_ms}|{self.renewed_ms}"

    def describe(self, at_ms: int) -> str:
        if self.host is None or self.since_ms is None or self.renewed_ms is None:
            return "a rebuild of an older version"
        renewed = max(at_ms - self.renewed_ms, 0) / 1000
        return (
            f"host {self.host}, pid {self.pid}, since {format_ms(self.since_ms)}, "
            f"renewed {renewed:.1f}s ago"
        )

    def gone_from_this_host(self) -> bool:
        """Whether it is a process of this host that no longer runs."""
        if self.host != socket.gethostname() or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


async def read_holder(redis: RedisClient, key: str) -> Holder | None:
    value = await redis.get(key)
    return None if value is None else Holder.parse(value)


class RebuildLock:
    def __init__(
        self,
        redis: RedisClient,
        key: str,
        ttl_s: float,
        renew_every_s: float | None = None,
        patience_s: float | None = None,
    ) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(int(ttl_s * 1000), 1)
        self.renew_every_s = renew_every_s or min(ttl_s / 3, 2.0)
        self.patience_s = patience_s or min(ttl_s, 2.5 * self.renew_every_s)
        self.holder = Holder(
            secrets.token_hex(8),
            socket.gethostname(),
            os.getpid(),
            wall_clock_ms(),
            wall_clock_ms(),
        )
        self._script = redis.register_script(lua_source("rebuild_lock"))
        self.took_over: Holder | None = None  # the dead holder whose place it took

    async def acquire(self) -> None:
        """Take the lock; or take a dead holder's place; else ``LockHeld``."""
        while True:
            if await self.redis.set(self.key, self.holder.value(), nx=True, px=self.ttl_ms):
                return
            value = await self.redis.get(self.key)
            if value is None:
                continue  # expired just now
            holder = Holder.parse(value)
            if not holder.gone_from_this_host() and await self._renewed_within(value):
                raise LockHeld(f"another rebuild is running ({holder.describe(wall_clock_ms())})")
            if await self._run("take", value):
                self.took_over = holder
                return

    async def _renewed_within(self, value: bytes | str) -> bool:
        """Whether the holder renews the lock within ``patience_s``.

        A renewal changes the value, or (an older version's) makes the time to
        live longer than it would be by now had nobody renewed it: the first
        reading less the time since, counted from before each later reading is
        sent, so a slow reply never passes for a renewal. (Comparing two
        readings alone misses renewals that fall just before each of them.)
        """
        ttl = await self.redis.pttl(self.key)
        read_at = time.monotonic()
        deadline = read_at + self.patience_s
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            elapsed_ms = (time.monotonic() - read_at) * 1000
            now_value, now_ttl = await self.redis.get(self.key), await self.redis.pttl(self.key)
            if now_value is None:
                return False  # expired: nobody renewed it
            if now_value != value or now_ttl > ttl - elapsed_ms + TTL_ROUNDING_MS:
                return True
        return False

    async def renew(self) -> None:
        self.holder = Holder(
            self.holder.token,
            self.holder.host,
            self.holder.pid,
            self.holder.since_ms,
            wall_clock_ms(),
        )
        if not await self._run("renew", self.holder.token):
            raise LockLost(
                "the rebuild lock was taken over (this rebuild stalled past "
                "PROJECTOR_REBUILD_LOCK_TTL_S); stopping"
            )

    async def release(self) -> None:
        value = await self.redis.get(self.key)
        if value is not None and Holder.parse(value).token == self.holder.token:
            await self.redis.delete(self.key)

    async def _run(self, op: str, argument: str | bytes) -> bool:
        reply = await self._script(
            keys=[self.key], args=[op, self.holder.value(), self.ttl_ms, argument]
        )
        return int(reply) == 1
