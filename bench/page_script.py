"""Redis's time in the page script, for the checkout on ``PYTHONPATH``.

    PYTHONPATH=TREE .venv/bin/python -m bench.page_script [--reads 3000]

loads the read model of ``bench/dataset.py`` into a private Redis (devstack)
through that checkout's store, reads page 1 and page 50 of the largest
organization through its ``api.store.RedisPageReader`` one after the other,
and prints the body's size, the script's Redis time per call (commandstats
``EVALSHA``) and the reader's wall time per page (round trip included). Run it
in two checkouts in turn, twice each, to compare them on this noisy machine:

    for tree in ../old . ../old .; do
        (cd $tree && PYTHONPATH=$PWD .venv/bin/python -m bench.page_script)
    done
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from api.store import Page, RedisPageReader
from bench.dataset import Shape, build_dataset, load, token_of
from devstack.redis import RedisServer

PREFIX = "um"
PAGES = ((1, "page 1"), (50, "page 50"))


async def measure(url: str, reads: int) -> None:
    redis = Redis.from_url(url)
    now_ms = time.time_ns() // 1_000_000
    data = build_dataset(Shape(), now_ms=now_ms)

    async def after_phase(*_: object) -> None:
        return None

    await load(redis, PREFIX, data, after_phase)
    reader = RedisPageReader(redis, PREFIX)
    for number, label in PAGES:
        await redis.config_resetstat()
        began = time.perf_counter()
        for _ in range(reads):
            page = await reader.page(1, token_of(1), None, now_ms, (number - 1) * 20, 20)
        spent_us = (time.perf_counter() - began) / reads * 1e6
        assert isinstance(page, Page)
        script = (await redis.info("commandstats"))["cmdstat_evalsha"]
        print(
            f"{label}: body {len(page.meetings):,} B, Redis {script['usec_per_call']:.1f} µs"
            f" per script call, reader {spent_us:.1f} µs per page"
        )
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=3000, help="reads per page")
    args = parser.parse_args()
    with RedisServer(log_dir=Path(tempfile.mkdtemp(prefix="bench-page-script-"))) as redis:
        asyncio.run(measure(redis.url, args.reads))


if __name__ == "__main__":
    main()
