"""The rebuild's CPU time per event, Python and Redis apart, for trees side by side.

    .venv/bin/python -m bench.rebuild_cpu [--events 200000] [--rounds 3] TREE...

Each TREE (a checkout of this project, e.g. ``/work/main`` and ``.``) runs in
turn, ``--rounds`` times interleaved, in a process of its own with
``PYTHONPATH=TREE``: it replays one in-memory history (``bench.history``, the
same for all) through that tree's ``projector.commands.rebuild.replay`` into a fresh
Redis, with Kafka replaced by a list (so what is measured is the rebuild's own
work: decoding, projecting, packing, parsing replies, and Redis's scripts).
Printed per run: the replay's process CPU (``python``), Redis's CPU
(``redis``, from /proc) and the wall time, each in µs per event. CPU time is
what to compare on a shared machine; the wall time shows the overlap only on a
quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOW_MS = 1_780_000_000_000  # a fixed "now": the same history for every tree


def proc_cpu_s(pid: int) -> float:
    """A process's CPU seconds. (Not ``bench.api.cpu_seconds``: this runs in the
    tree under test, which may not have it.)"""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NoDeadLetters:
    async def send(self, record: Any, reason: str) -> None:
        pass


def measure(history_path: str, redis_url: str, batch_size: str) -> dict[str, float]:
    """In the tree under test: replay the history; µs per event."""
    history = pickle.loads(Path(history_path).read_bytes())
    return asyncio.run(replay_once(history, redis_url, int(batch_size)))


async def replay_once(history: list[Any], redis_url: str, batch_size: int) -> dict[str, float]:
    from aiokafka import TopicPartition

    from projector.commands import rebuild
    from projector.kafka.records import Record
    from projector.settings import ProjectorSettings
    from projector.worker.pipeline import OneWriter, Pipeline
    from readmodel.connections import connect_redis
    from readmodel.keys import Control
    from readmodel.writer import RedisReadModel

    tp = TopicPartition("bench", 0)
    records = [Record(tp.topic, 0, i, key, value) for i, (_, key, value) in enumerate(history)]
    count = len(records)

    async def from_memory(*_args: Any) -> Any:
        for begin in range(0, count, batch_size):
            yield records[begin : begin + batch_size], {tp: min(count, begin + batch_size)}

    rebuild.read_records = from_memory  # type: ignore[assignment]
    redis = connect_redis(redis_url)
    try:
        await redis.flushall()
        redis_pid = int((await redis.info("server"))["process_id"])
        control = Control("bench")
        store = RedisReadModel(redis, control.keyspace("1"))
        await store.load_scripts()
        pipeline = Pipeline(OneWriter(store), NoDeadLetters())
        plan = rebuild.Plan("1", 0, {tp: count}, {tp: 0})
        settings = ProjectorSettings(rebuild_batch_size=batch_size)
        cpu, redis_cpu, began = time.process_time(), proc_cpu_s(redis_pid), time.perf_counter()
        await rebuild.replay(plan, pipeline, redis, control, settings)
        return {
            "python": 1e6 * (time.process_time() - cpu) / count,
            "redis": 1e6 * (proc_cpu_s(redis_pid) - redis_cpu) / count,
            "wall": 1e6 * (time.perf_counter() - began) / count,
        }
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=20_000)
    args = parser.parse_args(argv)

    from bench.history import mixed_history
    from bench.report import table
    from bench.trees import run_in_tree
    from devstack.redis import RedisServer
    from events.topics import Topics

    with tempfile.TemporaryDirectory() as scratch:
        history = Path(scratch) / "history.pickle"
        made = mixed_history(args.events, Topics.with_prefix("bench."), now_ms=NOW_MS)
        history.write_bytes(pickle.dumps(made))
        runs: dict[Path, list[dict[str, float]]] = {tree: [] for tree in args.trees}
        redis = RedisServer(log_dir=Path(scratch))
        redis.start()
        try:
            for _ in range(args.rounds):
                for tree in args.trees:
                    run = run_in_tree(
                        tree.resolve(),
                        __file__,
                        "measure",
                        str(history),
                        redis.url,
                        str(args.batch_size),
                    )
                    runs[tree].append(run)
                    print(f"{tree}: {runs[tree][-1]}", file=sys.stderr)
        finally:
            redis.stop()
    rows = [
        [
            str(tree),
            f"{len(made):,}",
            *(f"{statistics.median(run[k] for run in tree_runs):.1f}" for k in ("python", "redis")),
            f"{min(run['wall'] for run in tree_runs):.1f}",
        ]
        for tree, tree_runs in runs.items()
    ]
    header = ["tree", "events", "python µs (median)", "redis µs (median)", "wall µs (best)"]
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
