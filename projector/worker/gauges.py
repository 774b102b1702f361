"""The read model's gauges, read from Redis by each projector worker.

    readmodel_redis_used_memory_bytes{node}      INFO used_memory, per primary
    readmodel_redis_maxmemory_bytes{node}        INFO maxmemory (0: no limit)
    readmodel_redis_keys{node}                   keys, over the node's databases
    readmodel_organizations                      organizations with a list (served generation)
    readmodel_listed_meetings                    entries of their lists, EAP copies included
        (served generation; counted at most every ``count_every_s``)
    readmodel_heartbeat_timestamp_seconds        the newest projector heartbeat in Redis
    projector_rebuild_in_progress                1 while a rebuild fills a generation
    projector_rebuild_running                    1 while its lock is held (0: paused)
    projector_rebuild_events_done                events it has replayed
    projector_rebuild_events_total               events it has to replay
    projector_rebuild_updated_timestamp_seconds  when it last reported progress

Measured on the lag timer (``PROJECTOR_LAG_INTERVAL_S``): one INFO per primary
and one pipeline of the control keys; the lists are counted with SSCAN and
pipelined ZCARDs, so less often (``count_every_s``). Read-only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from projector.commands.status import read_control
from readmodel.connections import RedisClient
from readmodel.keys import Control, Keyspace, as_text

COUNT_BATCH = 1000

USED_MEMORY = Gauge(
    "readmodel_redis_used_memory_bytes", "Redis INFO used_memory, per primary", ["node"]
)
MAX_MEMORY = Gauge(
    "readmodel_redis_maxmemory_bytes", "Redis INFO maxmemory (0: no limit), per primary", ["node"]
)
KEYS = Gauge("readmodel_redis_keys", "Keys in Redis, per primary", ["node"])
ORGANIZATIONS = Gauge("readmodel_organizations", "Organizations with a list, served generation")
LISTED = Gauge(
    "readmodel_listed_meetings",
    "Entries of the organizations' lists (EAP copies included), served generation",
)
HEARTBEAT = Gauge(
    "readmodel_heartbeat_timestamp_seconds", "The newest projector heartbeat in Redis"
)
REBUILD_IN_PROGRESS = Gauge(
    "projector_rebuild_in_progress", "1 while a rebuild fills a new generation (running or paused)"
)
REBUILD_RUNNING = Gauge("projector_rebuild_running", "1 while a rebuild holds its lock")
REBUILD_DONE = Gauge("projector_rebuild_events_done", "Events the rebuild in progress replayed")
REBUILD_TOTAL = Gauge("projector_rebuild_events_total", "Events the rebuild in progress replays")
REBUILD_UPDATED = Gauge(
    "projector_rebuild_updated_timestamp_seconds", "When the rebuild in progress last reported"
)


def node_infos(reply: Mapping[Any, Any], client: RedisClient) -> dict[str, Mapping[str, Any]]:
    """INFO's reply per node: a cluster answers per node, a single node once."""
    if "used_memory" in reply:
        kwargs = client.connection_pool.connection_kwargs if isinstance(client, Redis) else {}
        return {f"{kwargs.get('host', 'redis')}:{kwargs.get('port', 6379)}": reply}
    return {as_text(node): info for node, info in reply.items() if isinstance(info, Mapping)}


def keys_of(info: Mapping[str, Any]) -> int:
    """Keys over every ``dbN`` section of INFO."""
    return sum(
        int(value.get("keys", 0))
        for name, value in info.items()
        if name.startswith("db") and isinstance(value, Mapping)
    )


def newest_heartbeat_ms(beats: Mapping[Any, Any]) -> int | None:
    newest = None
    for raw in beats.values():
        try:
            at_ms = json.loads(raw).get("at_ms")
        except (ValueError, AttributeError):
            continue
        if isinstance(at_ms, int) and (newest is None or at_ms > newest):
            newest = at_ms
    return newest


class ReadModelGauges:
    def __init__(self, prefix: str, count_every_s: float) -> None:
        self.control = Control(prefix)
        self.count_every_s = count_every_s
        self._counted_at: float | None = None

    async def measure(self, redis: RedisClient) -> None:
        await self.measure_memory(redis)
        current = await self.measure_control(redis)
        now = time.monotonic()
        if current is not None and (
            self._counted_at is None or now - self._counted_at >= self.count_every_s
        ):
            self._counted_at = now
            organizations, listed = await count_lists(redis, self.control.keyspace(current))
            ORGANIZATIONS.set(organizations)
            LISTED.set(listed)

    async def measure_memory(self, redis: RedisClient) -> None:
        if isinstance(redis, RedisCluster):
            reply = await redis.info(target_nodes=RedisCluster.PRIMARIES)
        else:
            reply = await redis.info()
        for node, info in node_infos(reply, redis).items():
            USED_MEMORY.labels(node).set(int(info.get("used_memory", 0)))
            MAX_MEMORY.labels(node).set(int(info.get("maxmemory", 0)))
            KEYS.labels(node).set(keys_of(info))

    async def measure_control(self, redis: RedisClient) -> str | None:
        """The heartbeats and any rebuild; the generation served."""
        state = await read_control(redis, self.control.prefix)
        newest = newest_heartbeat_ms(state.beats)
        if newest is not None:
            HEARTBEAT.set(newest / 1000)
        rebuild = state.rebuild
        REBUILD_IN_PROGRESS.set(rebuild is not None)
        REBUILD_RUNNING.set(rebuild is not None and rebuild.running)
        REBUILD_DONE.set(rebuild.events_done or 0 if rebuild else 0)
        REBUILD_TOTAL.set(rebuild.events_total or 0 if rebuild else 0)
        reported_ms = rebuild.updated_ms or rebuild.started_ms if rebuild else 0
        if reported_ms is not None:
            REBUILD_UPDATED.set(reported_ms / 1000)
        return state.current


async def count_lists(redis: RedisClient, keyspace: Keyspace) -> tuple[int, int]:
    """Organizations with a list, and the entries of their lists."""
    organizations = listed = 0
    batch: list[bytes] = []

    async def tally() -> int:
        async with redis.pipeline(transaction=False) as pipe:
            for org in batch:
                pipe.zcard(keyspace.org(int(org)).start)
            return sum(await pipe.execute())

    async for org in redis.sscan_iter(keyspace.orgs, count=COUNT_BATCH):
        organizations += 1
        batch.append(org)
        if len(batch) >= COUNT_BATCH:
            listed += await tally()
            batch = []
    if batch:
        listed += await tally()
    return organizations, listed
