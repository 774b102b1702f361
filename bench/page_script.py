"""Redis's time in the page script, and the page reader's, for trees side by side.

    .venv/bin/python -m bench.page_script [--reads 3000] [--rounds 2] TREE...

Each TREE (a checkout of this project, e.g. an older commit and ``.``) runs in
turn, ``--rounds`` times interleaved, in a process of its own with
``PYTHONPATH=TREE`` (``bench/trees.py``): it loads the read model of
``bench/dataset.py`` into a fresh private Redis through that tree's store, then
reads page 1 and page 50 of the largest organization ``--reads`` times each
through that tree's ``readmodel.reader.RedisPageReader``. Printed per tree and page:
the body's size, Redis's time per script call (commandstats ``EVALSHA_RO``) and
the reader's wall time per page (round trip included), medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOW_MS = 1_795_000_000_000  # a fixed "now": the same read model for every tree
PAGES = (1, 50)


def measure(redis_url: str, reads: str) -> dict[str, dict[str, float]]:
    """In the tree under test: per page, body bytes and µs per read."""
    return asyncio.run(read_pages(redis_url, int(reads)))


async def read_pages(redis_url: str, reads: int) -> dict[str, dict[str, float]]:
    from redis.asyncio import Redis

    from bench.dataset import Shape, build_dataset, load, token_of
    from readmodel.reader import RedisPageReader

    redis = Redis.from_url(redis_url)
    try:
        await redis.flushall()
        data = build_dataset(Shape(), now_ms=NOW_MS)

        async def after_phase(_phase: str) -> None:
            return None

        await load(redis, "bench", data, after_phase)
        reader = RedisPageReader(redis, "bench")
        found: dict[str, dict[str, float]] = {}
        for number in PAGES:
            await redis.config_resetstat()
            began = time.perf_counter()
            for _ in range(reads):
                page: Any = await reader.page(1, token_of(1), None, NOW_MS, (number - 1) * 20, 20)
            spent_us = (time.perf_counter() - began) / reads * 1e6
            stats = await redis.info("commandstats")
            # EVALSHA_RO since Redis 7 (readmodel/scripts.py), EVALSHA in older trees.
            script = stats.get("cmdstat_evalsha_ro") or stats["cmdstat_evalsha"]
            found[f"page {number}"] = {
                "body": len(page.meetings),
                "redis": float(script["usec_per_call"]),
                "reader": spent_us,
            }
        return found
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--reads", type=int, default=3000, help="reads of each page")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    from bench.report import table
    from bench.trees import run_in_tree
    from devstack.redis import RedisServer

    runs: dict[Path, list[dict[str, dict[str, float]]]] = {tree: [] for tree in args.trees}
    with RedisServer(log_dir=Path(tempfile.mkdtemp(prefix="bench-page-script-"))) as redis:
        for _ in range(args.rounds):
            for tree in args.trees:
                run = run_in_tree(tree.resolve(), __file__, "measure", redis.url, str(args.reads))
                runs[tree].append(run)
                print(f"{tree}: {run}", file=sys.stderr)
    rows = [
        [
            str(tree),
            f"page {number}",
            f"{tree_runs[-1][f'page {number}']['body']:,.0f}",
            *(
                f"{statistics.median(run[f'page {number}'][k] for run in tree_runs):.1f}"
                for k in ("redis", "reader")
            ),
        ]
        for tree, tree_runs in runs.items()
        for number in PAGES
    ]
    header = ["tree", "page", "body B", "Redis µs per call (median)", "reader µs (median)"]
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
