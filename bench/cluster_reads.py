"""Reads of one page on a single node and on a local 3-primary cluster, side by side.

    .venv/bin/python -m bench.cluster_reads [--requests 3000] [--concurrency 16]

Starts a private Redis and a private Redis Cluster (devstack), fills the same
read model into each through ``RedisReadModel``, and times ``RedisPageReader``
pages (the API's Redis path, without HTTP) with ``--concurrency`` callers,
alternating node and cluster three times. Prints pages per second of each and
their ratio. Needs ``redis-server`` and ``redis-cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from devstack.redis import RedisServer
from devstack.redis_cluster import LocalRedisCluster
from events.models import decode_event
from events.times import wall_clock_ms
from projector.projection.project import project
from readmodel.changes import IssueToken
from readmodel.connections import RedisClient, connect_redis
from readmodel.keys import Control
from readmodel.reader import Denial, RedisPageReader
from readmodel.writer import RedisReadModel
from tests.builders import encode, registration_created, scheduled, sha256_hex

PREFIX = "bench"
TOKEN = "bench-token"
ORGANIZATIONS = 20


async def fill(redis: RedisClient) -> None:
    control = Control(PREFIX)
    store = RedisReadModel(redis, control.keyspace("1"))
    start = wall_clock_ms() + 86_400_000
    events = []
    for n in range(1, 2001):
        at_ms = start + n * 60_000
        events.append(
            scheduled(
                meeting_id=n,
                organization_id=n % ORGANIZATIONS + 1,
                start_time=_iso(at_ms),
                end_time=_iso(at_ms + 3_600_000),
            )
        )
        events.append(registration_created(registration_id=n, meeting_id=n, user_id=n % 50 + 1))
    changes = [project(decode_event(encode(event))) for event in events]
    changes += [IssueToken(org, sha256_hex(TOKEN)) for org in range(1, ORGANIZATIONS + 1)]
    for i in range(0, len(changes), 500):
        await store.apply(changes[i : i + 500])
    await redis.set(control.current, "1")


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000Z"


async def pages_per_second(redis: RedisClient, requests: int, concurrency: int) -> float:
    reader = RedisPageReader(redis, PREFIX)
    now = wall_clock_ms()
    per_caller = requests // concurrency

    async def caller(offset: int) -> None:
        for i in range(per_caller):
            org = (offset + i) % ORGANIZATIONS + 1
            page = await reader.page(org, TOKEN, None, now, 0, 20)
            assert not isinstance(page, Denial) and page.total_items == 100, page

    await caller(0)  # warm: scripts loaded, connections open
    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(concurrency)))
    return per_caller * concurrency / (time.perf_counter() - started)


async def measure(node_url: str, cluster_url: str, requests: int, concurrency: int) -> None:
    clients = {"node": connect_redis(node_url, 64), "cluster": connect_redis(cluster_url, 64)}
    try:
        for client in clients.values():
            await fill(client)
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for _round in range(3):
            for name, client in clients.items():
                rates[name].append(await pages_per_second(client, requests, concurrency))
        best = {name: max(values) for name, values in rates.items()}
        for name, values in rates.items():
            print(f"{name:8} pages/s: " + ", ".join(f"{v:,.0f}" for v in values))
        print(f"cluster / node (best of 3): {best['cluster'] / best['node']:.2f}")
    finally:
        for client in clients.values():
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        RedisServer(log_dir=Path(tmp) / "node") as node,
        LocalRedisCluster(Path(tmp) / "cluster") as cluster,
    ):
        asyncio.run(measure(node.url, cluster.url, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
