"""What waiting for a replica costs the projector (``PROJECTOR_REDIS_MIN_REPLICAS``).

    .venv/bin/python -m bench.wait_cost [--events 100000] [--rounds 2]

One Tansu broker, a Redis primary and one replica of it (loopback). A mixed
history (``bench/history.py``) is published once; then one projector worker
applies all of it on a fresh group and key prefix, alternately without
waiting (0) and waiting for 1 replica, ``--rounds`` times each, in the same
run (the machine may be shared: only ratios within one run mean much).
Prints events/s of each run and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.projector import Bench, prepare_history, run_group
from bench.report import machine
from devstack.kafka import TansuBroker
from devstack.redis import PersistentRedisServer, find_redis_server


async def synced(replica: PersistentRedisServer) -> None:
    async with Redis(host=replica.host, port=replica.port) as client:
        deadline = time.monotonic() + 30
        while (await client.info("replication")).get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise SystemExit("the replica did not sync")
            await asyncio.sleep(0.1)


async def run(bench: Bench, replica: PersistentRedisServer, rounds: int) -> dict[int, list[float]]:
    await synced(replica)
    namespace = "wait"
    await prepare_history(bench, namespace, bench.args.events)
    rates: dict[int, list[float]] = {0: [], 1: []}
    for round_ in range(rounds):
        for replicas in (0, 1):
            os.environ["PROJECTOR_REDIS_MIN_REPLICAS"] = str(replicas)
            rate = await run_group(bench, f"wait{replicas} r{round_}", namespace, "projector", 1)
            rates[replicas].append(rate.rate)
    os.environ.pop("PROJECTOR_REDIS_MIN_REPLICAS", None)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    args.profile = False
    logs = Path(tempfile.mkdtemp(prefix="bench-wait-"))
    with (
        TansuBroker(log_dir=logs) as broker,
        PersistentRedisServer(log_dir=logs / "primary") as primary,
        PersistentRedisServer(
            log_dir=logs / "replica", extra=["--replicaof", primary.host, str(primary.port)]
        ) as replica,
    ):
        bench = Bench(args, broker, primary, logs)
        rates = asyncio.run(run(bench, replica, args.rounds))
    print(machine(str(find_redis_server())))
    for replicas, values in rates.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(f"PROJECTOR_REDIS_MIN_REPLICAS={replicas}: {shown} events/s")
    ratio = statistics.median(rates[1]) / statistics.median(rates[0])
    print(f"waiting for 1 replica / not waiting (medians): {ratio:.2f}")
    print(f"logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
