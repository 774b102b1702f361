"""What one registration costs the projector when a meeting has many followers.

    .venv/bin/python -m bench.followers [--registrations 400]

Places one meeting into a private Redis, then applies that many registrations
to it, one per batch (the worst case: every registration is a write of the
meeting to its lists), and prints the time taken, Redis's own time in the
scripts, and how many commands the scripts ran (Redis ``commandstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.dataset import changes_of
from devstack.redis import RedisServer
from readmodel.keys import Keyspace
from readmodel.writer import RedisReadModel
from tests.builders import HOUR_MS, at, registration_created, scheduled

START_MS = 1_893_456_000_000  # 2030-01-01T00:00:00.000Z


async def measure(url: str, registrations: int) -> str:
    redis = Redis.from_url(url)
    try:
        model = RedisReadModel(redis, Keyspace("bench", "1"))
        await model.load_scripts()
        meeting = scheduled(1, 5, 1, start_time=at(START_MS), end_time=at(START_MS + HOUR_MS))
        await model.apply(changes_of([meeting]))
        changes = changes_of(
            [registration_created(i, 1, 1000 + i) for i in range(1, registrations + 1)]
        )
        await redis.config_resetstat()
        began = time.perf_counter()
        for change in changes:
            await model.apply([change])
        spent = time.perf_counter() - began
        stats = await redis.info("commandstats")
    finally:
        await redis.aclose()
    scripts = stats["cmdstat_evalsha"]
    inside = sum(
        int(value["calls"])
        for name, value in stats.items()
        if name.startswith("cmdstat_") and name not in ("cmdstat_evalsha", "cmdstat_info")
    )
    return (
        f"{registrations} registrations to one meeting, one per batch: {spent:.2f} s; "
        f"{scripts['calls']} script calls, {int(scripts['usec']) / 1e3:.0f} ms in Redis "
        f"({float(scripts['usec_per_call']):.0f} µs per call); "
        f"{inside:,} commands run by the scripts"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registrations", type=int, default=400)
    args = parser.parse_args(argv)
    with RedisServer(log_dir=Path(tempfile.mkdtemp(prefix="bench-followers-"))) as redis:
        print(asyncio.run(measure(redis.url, args.registrations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
