"""``FailureLimiter``: a client that keeps failing authentication is blocked a while.

Every 401 of the two list endpoints counts one failure of its client in Redis
(``fail.lua``: INCR with an expiry of ``window_s``; only on the failure path).
The request that reaches ``limit`` failures within the window blocks the
client for ``block_s``: the block goes into a sorted set (client -> until, ms)
and is published on ``<prefix>:{rl}:blocks``. Every API process subscribes to
that channel (``api/tracking.py``'s connection) and loads the sorted set each
time it subscribes, so all processes agree while the hot path stays in
process: a blocked client gets 429 with ``Retry-After`` on every request to
the two endpoints, whatever its token, until the block ends.

A failure that cannot be counted (Redis unreachable) is not counted: the 401
or 503 goes out all the same.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from readmodel.connections import RedisClient
from readmodel.keys import RateLimitKeys
from readmodel.scripts import Runner, Script

logger = logging.getLogger(__name__)


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``API_TRUSTED_PROXIES``: comma-separated addresses or networks."""
    return [
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    ]


class FailureLimiter:
    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        limit: int,
        window_s: float,
        block_s: float,
        trusted_proxies: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    ) -> None:
        self.redis = redis
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self.block_ms = int(block_s * 1000)
        self.trusted = list(trusted_proxies)
        self.keys = RateLimitKeys(prefix)
        self.channel = self.keys.blocks_channel
        self._fail = Script("fail")
        self.blocks: dict[str, int] = {}  # client -> blocked until (wall clock, ms)

    # -- who is asking ----------------------------------------------------------

    def client_of(self, scope: Any) -> str:
        """The peer address; through trusted proxies, the first untrusted X-Forwarded-For hop."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else "unknown"
        if not self.trusted or not self._is_trusted(host):
            return str(host)
        forwarded: list[str] = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
        ]
        hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return str(hops[0]) if hops else str(host)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    # -- the hot path -------------------------------------------------------------

    def retry_after_s(self, client: str, now_ms: int) -> int | None:
        """Seconds until the client's block ends, or None when it is not blocked."""
        until = self.blocks.get(client)
        if until is None:
            return None
        if until <= now_ms:
            del self.blocks[client]
            return None
        return -(-(until - now_ms) // 1000)

    async def failed(self, client: str, now_ms: int) -> None:
        """Count one failed authentication of ``client``; block it past the limit."""
        keys = [self.keys.failures(client), self.keys.blocked]
        args: list[str | int] = [
            self.window_ms,
            self.limit,
            self.block_ms,
            now_ms,
            self.channel,
            client,
        ]
        try:
            until = await self._fail.run(Runner.of(self.redis), keys, args)
        except RedisError as exc:
            logger.warning("cannot count a failed authentication: %s", exc)
            return
        if until:
            self.blocks[client] = max(int(until), self.blocks.get(client, 0))

    # -- what the other processes decided ------------------------------------------

    def on_message(self, channel: bytes, payload: bytes) -> None:
        try:
            client, until = payload.decode().rsplit(" ", 1)
            self.blocks[client] = max(int(until), self.blocks.get(client, 0))
        except ValueError:
            logger.warning("unreadable block message on %r: %r", channel, payload)

    async def load(self, now_ms: int) -> None:
        """The blocks in force (after subscribing: none is missed in between)."""
        blocked = await self.redis.zrangebyscore(
            self.keys.blocked, f"({now_ms}", "+inf", withscores=True
        )
        for client, until in blocked:  # type: ignore[str-unpack]
            name = client.decode() if isinstance(client, bytes) else str(client)
            self.blocks[name] = max(int(until), self.blocks.get(name, 0))
