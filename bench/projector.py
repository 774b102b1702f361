"""The projector's throughput, the rebuild's time and freshness, next to floors.

    .venv/bin/python -m bench.projector [--parts live,rebuild,freshness] [--events 200000]
        [--rebuild-events 1000000] [--rate 1000] [--freshness-s 30] [--trace] [--profile]
    scripts/bench projector [same options]

Starts an embedded Tansu broker and a private Redis (devstack), then:

live
    Publishes a realistic mixed history (``bench/history.py``, ``--events``)
    to four topics of four partitions, and measures, each on its own consumer
    group over the same records, in one run: a plain aiokafka consumer that
    only decodes them (in this process); a Faust worker that only decodes them
    (``bench/faust_floor.py``: the projector's app settings and batching); the
    projector (``python -m projector worker``) into an empty keyspace; then the
    Faust floor and the projector again with two workers each. A worker's rate
    is read from its group's committed offsets (``projector.kafka.offsets``), from
    the first commit seen to the last one before the end (the last commit
    waits for the commit interval), so start-up is not counted.
rebuild
    Publishes ``--rebuild-events`` records to other topics and times
    ``python -m projector rebuild`` on them (process wall time, and the replay
    it reports), next to its own floor: the rebuild's reader
    (``projector.kafka.replay.read_records``) only decoding.
freshness
    Runs the projector on a history of ``--events // 4`` records, then
    publishes a continuation at a steady ``--rate`` events/s for
    ``--freshness-s`` seconds; every 50th record is a new meeting in a series
    of its own, and its latency is the time from handing it to the producer
    until the API's read path (``readmodel.reader.RedisPageReader``) lists it. Once
    per ``--fetch-wait-ms`` value (``PROJECTOR_FETCH_MAX_WAIT_MS``: Tansu
    holds a fetch that long even when records arrive). Also the CPU of the
    worker, Redis and Tansu, idle (``--idle-s``) and while publishing. With
    ``--trace`` the worker runs as ``bench/fresh_trace.py``, which notes when
    each probe passed each stage (fetch, Faust, batch, write), and each
    stage's p50, p99 and mean in the slowest 1% are printed.

With ``--profile``, py-spy records the one-worker projector and the rebuild
(``.venv/bin/pip install py-spy``); the busiest functions are printed and the
flame graphs kept in the log directory. Every process this starts is stopped
at the end, whatever happens. The figures are also saved as JSON
(``--results``; by default ``bench/results/<date>.json``, drawn by
``python -m bench.plots``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from bench.api import cpu_seconds
from bench.history import Published, mixed_history, token_of
from bench.report import machine, results_path, save_results, table
from devstack.kafka import TansuBroker
from devstack.process import ChildProcess
from devstack.redis import RedisServer, find_redis_server
from events.errors import InvalidEvent
from events.kafka import KafkaConnection
from events.times import wall_clock_ms
from events.topics import Topics
from projector.kafka.offsets import committed_offsets, log_end_offsets
from projector.kafka.replay import read_records
from projector.kafka.topics import ensure_topics
from projector.settings import ProjectorSettings
from projector.worker.pipeline import event_of
from readmodel.reader import Page, RedisPageReader
from tests.builders import MINUTE_MS, at, leader, scheduled

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 4
PARTS = ("live", "rebuild", "freshness")
TARGET_LIVE, TARGET_REBUILD_S, TARGET_P99_MS = 0.7, 30.0, 100.0


@dataclass
class Rate:
    """One subject's run: events/s, and CPU seconds per process kind."""

    name: str
    events: int
    seconds: float
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def cpu_us(self, kind: str) -> float:
        return 1e6 * self.cpu_s.get(kind, 0.0) / max(1, self.events)


@dataclass
class Freshness:
    sent: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # with --trace: per probe key, when it was handed to the producer and seen listed (wall s)
    handed: dict[str, float] = field(default_factory=dict)
    visible: dict[str, float] = field(default_factory=dict)
    trace: Path | None = None
    # CPU seconds per process kind (worker, redis, kafka): idle, then while publishing
    idle_s: float = 0.0
    idle_cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)


@dataclass
class Bench:
    args: argparse.Namespace
    broker: TansuBroker
    redis: RedisServer
    logs: Path
    rates: dict[str, Rate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    freshness: dict[int, Freshness] = field(default_factory=dict)  # by fetch wait (ms)
    rebuild_output: str = ""

    def environment(self, namespace: str, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "REDIS_URL": self.redis.url,
            "KAFKA_TOPIC_PREFIX": f"{namespace}.",
            "REDIS_KEY_PREFIX": namespace,
            "PROJECTOR_TOPIC_PARTITIONS": str(PARTITIONS),
            "PROJECTOR_METRICS_PORT": "0",
            "PROJECTOR_GENERATION_GRACE_S": "0",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def pids(self) -> dict[str, int]:
        assert self.broker.pid is not None and self.redis.pid is not None
        return {"kafka": self.broker.pid, "redis": self.redis.pid}


# -- publishing ----------------------------------------------------------------


async def create_topics(bootstrap: str, topics: Topics) -> None:
    await ensure_topics(
        KafkaConnection(bootstrap), [*topics.names(), *topics.dead_letters()], PARTITIONS, 1
    )


async def publish(bootstrap: str, records: Sequence[Published]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    await producer.start()
    try:
        for begin in range(0, len(records), 20_000):
            deliveries = [
                await producer.send(topic, value, key=key)
                for topic, key, value in records[begin : begin + 20_000]
            ]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def prepare_history(bench: Bench, namespace: str, events: int) -> int:
    """Publish a history to the namespace's topics; how many records."""
    topics = Topics.with_prefix(f"{namespace}.")
    began = time.monotonic()
    records = mixed_history(events, topics)
    made = time.monotonic()
    await create_topics(bench.broker.bootstrap_servers, topics)
    await publish(bench.broker.bootstrap_servers, records)
    ends = await log_end_offsets(KafkaConnection(bench.broker.bootstrap_servers), topics.names())
    kinds = Counter(
        value.split(b'"event_type":"', 1)[1].split(b'"', 1)[0] for _, _, value in records
    )
    mix = ", ".join(f"{k.decode()} {n:,}" for k, n in kinds.most_common())
    print(
        f"[{namespace}] {len(records):,} records made in {made - began:.0f}s, published in "
        f"{time.monotonic() - made:.0f}s: {mix}",
        file=sys.stderr,
    )
    if sum(ends.values()) != len(records):
        raise SystemExit(
            f"published {len(records)} records but the topics hold {sum(ends.values())}"
        )
    return len(records)


# -- the subjects ----------------------------------------------------------------


async def decode_floor(bench: Bench, namespace: str, name: str, batch_size: int) -> Rate:
    """A plain aiokafka consumer (the rebuild's reader) that only decodes."""
    bootstrap = bench.broker.bootstrap_servers
    targets = await log_end_offsets(
        KafkaConnection(bootstrap), Topics.with_prefix(f"{namespace}.").names()
    )
    own = os.getpid()
    cpu = {kind: cpu_seconds(pid) for kind, pid in bench.pids().items()}
    cpu_self = time.process_time()
    began = time.perf_counter()
    count = 0
    async for records, _positions in read_records(
        KafkaConnection(bootstrap), targets, {}, batch_size
    ):
        for record in records:
            with contextlib.suppress(InvalidEvent):
                event_of(record)
        count += len(records)
    seconds = time.perf_counter() - began
    spent = {kind: cpu_seconds(pid) - cpu[kind] for kind, pid in bench.pids().items()}
    spent["reader"] = time.process_time() - cpu_self
    assert own and count == sum(targets.values()), (count, targets)
    return Rate(name, count, seconds, spent)


async def committed_total(bootstrap: str, group: str, partitions: list[TopicPartition]) -> int:
    return sum((await committed_offsets(KafkaConnection(bootstrap), group, partitions)).values())


async def catch_up(bench: Bench, group: str, topics: Topics, projector: ChildProcess) -> None:
    """Until ``group`` has committed every record the topics hold now (``--timeout``)."""
    bootstrap = bench.broker.bootstrap_servers
    targets = await log_end_offsets(KafkaConnection(bootstrap), topics.names())
    deadline = time.monotonic() + bench.args.timeout
    while await committed_total(bootstrap, group, list(targets)) < sum(targets.values()):
        if not projector.is_running() or time.monotonic() > deadline:
            raise SystemExit(
                "the projector did not catch up:\n" + "\n".join(projector.last_lines())
            )
        await asyncio.sleep(0.25)


async def run_group(
    bench: Bench,
    name: str,
    namespace: str,
    module: str,
    workers: int,
    profile: bool = False,
) -> Rate:
    """Start ``workers`` processes of ``module`` on a fresh group; measure until done."""
    bootstrap = bench.broker.bootstrap_servers
    topics = Topics.with_prefix(f"{namespace}.")
    targets = await log_end_offsets(KafkaConnection(bootstrap), topics.names())
    partitions, total = list(targets), sum(targets.values())
    group = f"{namespace}-{name.replace(' ', '-')}"
    processes = [
        ChildProcess(
            f"{name} {i}",
            [sys.executable, "-m", module, *(["worker"] if module == "projector" else [])],
            bench.logs / f"{group}-{i}.log",
            env=bench.environment(
                f"{namespace}",
                REDIS_KEY_PREFIX=group,
                PROJECTOR_GROUP_ID=group,
                PROJECTOR_DATA_DIR=str(bench.logs / f"{group}-{i}.data"),
            ),
            cwd=ROOT,
        )
        for i in range(workers)
    ]
    samples: list[tuple[float, int, dict[str, float]]] = []
    recorder = None
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + bench.args.timeout
        while True:
            committed = await committed_total(bootstrap, group, partitions)
            now = time.monotonic()
            if committed:
                cpu = {kind: cpu_seconds(pid) for kind, pid in bench.pids().items()}
                cpu["worker"] = sum(cpu_seconds(p.pid) for p in processes if p.pid is not None)
                samples.append((now, committed, cpu))
                if profile and recorder is None:
                    recorder = start_profile(bench, processes[0], f"{group}-profile")
            if committed >= total:
                break
            for process in processes:
                if not process.is_running():
                    raise SystemExit(f"{process.name} exited:\n" + "\n".join(process.last_lines()))
            if now > deadline:
                raise SystemExit(f"{name}: {committed:,} of {total:,} after {bench.args.timeout}s")
            await asyncio.sleep(0.25)
    finally:
        if recorder is not None:
            stop_profile(recorder)
        for process in reversed(processes):
            process.stop()
    # From the first commit seen to the last one before the end: the last
    # commit waits for the commit interval, which is not the worker's speed.
    steady = [s for s in samples if s[1] < total] or samples
    first, last = samples[0], steady[-1]
    if last is first:
        last = samples[-1]
    spent = {kind: last[2][kind] - first[2][kind] for kind in first[2]}
    rate = Rate(name, last[1] - first[1], last[0] - first[0], spent)
    print(f"  {name}: {rate.rate:,.0f} events/s", file=sys.stderr)
    return rate


# -- profiles ----------------------------------------------------------------------


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


@dataclass
class Recorder:
    process: subprocess.Popen[bytes]
    raw: Path


def start_profile(bench: Bench, target: ChildProcess, name: str) -> Recorder | None:
    spy = py_spy()
    if spy is None or target.pid is None:
        bench.notes.append("--profile: py-spy is not installed (`.venv/bin/pip install py-spy`)")
        return None
    raw = bench.logs / f"{name}.txt"
    argv = [spy, "record", "--pid", str(target.pid), "--rate", "100", "--nonblocking"]
    argv += ["--subprocesses", "--format", "raw", "--output", str(raw)]
    return Recorder(
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), raw
    )


def stop_profile(recorder: Recorder) -> None:
    recorder.process.send_signal(2)  # py-spy writes its output on SIGINT
    try:
        recorder.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        recorder.process.kill()


def summarize_profile(raw: Path, top: int = 14) -> str:
    """The functions where the samples were (self), and the biggest subtrees (total)."""
    if not raw.exists():
        return f"  (no profile at {raw})"
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [re.sub(r" \(/.*?([^/]+\.py)(?::\d+)?\)", r" (\1)", f) for f in stack.split(";")]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        return "  (no samples)"
    lines = [f"  {samples:,} samples; self time:"]
    lines += [f"    {100 * n / samples:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive time:")
    lines += [
        f"    {100 * n / samples:5.1f}%  {f}"
        for f, n in total.most_common(top * 3)
        if 100 * n / samples < 99
    ][:top]
    return "\n".join(lines)


# -- parts -------------------------------------------------------------------------


async def live(bench: Bench) -> None:
    namespace = "live"
    await prepare_history(bench, namespace, bench.args.events)
    settings = ProjectorSettings()
    for workers in (1, 2):
        suffix = "" if workers == 1 else f" x{workers}"
        if workers == 1:
            bench.rates["aiokafka"] = await decode_floor(
                bench, namespace, "aiokafka decode", settings.batch_size
            )
        bench.rates[f"faust{suffix}"] = await run_group(
            bench, f"faust decode{suffix}", namespace, "bench.faust_floor", workers
        )
        bench.rates[f"projector{suffix}"] = await run_group(
            bench,
            f"projector{suffix}",
            namespace,
            "projector",
            workers,
            profile=bench.args.profile and workers == 1,
        )


async def rebuild(bench: Bench) -> None:
    namespace = "rebuild"
    await prepare_history(bench, namespace, bench.args.rebuild_events)
    settings = ProjectorSettings()
    bench.rates["rebuild floor"] = await decode_floor(
        bench, namespace, "rebuild reader decode", settings.rebuild_batch_size
    )
    env = bench.environment(namespace, PROJECTOR_GROUP_ID=f"{namespace}-projector")
    cpu = {kind: cpu_seconds(pid) for kind, pid in bench.pids().items()}
    log = bench.logs / "rebuild.log"
    began = time.perf_counter()
    process_cpu_s = 0.0  # the rebuild's own CPU time, last seen while it ran
    with ChildProcess(
        "rebuild", [sys.executable, "-m", "projector", "rebuild"], log, env=env, cwd=ROOT
    ) as process:
        recorder = start_profile(bench, process, "rebuild-profile") if bench.args.profile else None
        try:
            while process.returncode is None:
                if time.perf_counter() - began > bench.args.timeout:
                    raise SystemExit("the rebuild did not finish in time")
                assert process.pid is not None
                process_cpu_s = cpu_seconds(process.pid) or process_cpu_s
                await asyncio.sleep(0.05)
        finally:
            if recorder is not None:
                stop_profile(recorder)
        seconds = time.perf_counter() - began
        spent = {kind: cpu_seconds(pid) - cpu[kind] for kind, pid in bench.pids().items()}
        spent["worker"] = process_cpu_s
    output = log.read_text()
    if process.returncode != 0:
        raise SystemExit(f"the rebuild failed ({process.returncode}):\n{output[-3000:]}")
    replayed = re.search(r"([\d,]+) events replayed .* in ([\d.]+)s", output)
    events = bench.rates["rebuild floor"].events
    bench.rates["rebuild"] = Rate("rebuild (process wall time)", events, seconds, spent)
    if replayed:
        bench.rates["rebuild replay"] = Rate(
            "rebuild (its replay)",
            int(replayed.group(1).replace(",", "")),
            float(replayed.group(2)),
        )
    bench.rebuild_output = "\n".join(
        line for line in output.splitlines() if "served" in line or "deleted" in line
    )


async def freshness(bench: Bench) -> None:
    for wait_ms in bench.args.fetch_wait_ms:
        await freshness_with(bench, wait_ms)


async def freshness_with(bench: Bench, wait_ms: int) -> None:
    namespace = f"fresh{wait_ms}"
    args = bench.args
    warm = max(1000, args.events // 4)
    await prepare_history(bench, namespace, warm)
    topics = Topics.with_prefix(f"{namespace}.")
    group = f"{namespace}-projector"
    env = bench.environment(
        namespace, PROJECTOR_GROUP_ID=group, PROJECTOR_FETCH_MAX_WAIT_MS=str(wait_ms)
    )
    rate, seconds = args.rate, args.freshness_s
    background = mixed_history(int(rate * seconds) + 1000, topics, first_id=50_000_000, head=False)
    redis = Redis.from_url(bench.redis.url)
    reader = RedisPageReader(redis, namespace)
    bootstrap = bench.broker.bootstrap_servers
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    trace = bench.logs / f"fresh{wait_ms}-trace.jsonl" if args.trace else None
    if trace is not None:
        env["BENCH_FRESH_TRACE"] = str(trace)
    command = ["bench.fresh_trace"] if trace is not None else ["projector", "worker"]
    with ChildProcess(
        "projector",
        [sys.executable, "-m", *command],
        bench.logs / "fresh.log",
        env=env,
        cwd=ROOT,
    ) as projector:
        try:
            await catch_up(bench, group, topics, projector)
            await producer.start()
            result = bench.freshness[wait_ms] = Freshness(trace=trace)

            def cpu() -> dict[str, float]:
                assert projector.pid is not None
                spent = {kind: cpu_seconds(pid) for kind, pid in bench.pids().items()}
                return {**spent, "worker": cpu_seconds(projector.pid)}

            result.idle_s = args.idle_s
            before = cpu()
            await asyncio.sleep(args.idle_s)
            after = cpu()
            result.idle_cpu_s = {kind: after[kind] - before[kind] for kind in after}
            await steady_publishing(bench, result, producer, reader, topics, background)
            spent = cpu()
            result.cpu_s = {kind: spent[kind] - after[kind] for kind in after}
        finally:
            await producer.stop()
            await redis.aclose()


async def steady_publishing(
    bench: Bench,
    result: Freshness,
    producer: AIOKafkaProducer,
    reader: RedisPageReader,
    topics: Topics,
    background: list[Published],
) -> None:
    args = bench.args
    tick_s = 0.01
    per_tick = max(1, round(args.rate * tick_s))
    total = int(args.rate * args.freshness_s)
    pending: dict[int, float] = {}  # series id of a probe -> when it was handed to the producer
    probe_org = 1
    token = token_of(probe_org)
    now_ms = wall_clock_ms()
    start_time = (now_ms // MINUTE_MS + 120) * MINUTE_MS
    deliveries = []
    done = asyncio.Event()

    async def poll() -> None:
        while not (done.is_set() and not pending):
            for series in list(pending):
                page = await reader.page(probe_org, token, series, now_ms, 0, 1)
                if isinstance(page, Page) and page.total_items == 1:
                    result.latencies_ms.append(1000 * (time.perf_counter() - pending.pop(series)))
                    result.visible[str(series)] = time.time()
            await asyncio.sleep(0.001)

    poller = asyncio.create_task(poll())
    began = time.perf_counter()
    sent, probes, source = 0, 0, iter(background)
    while sent < total:
        due = min(total, int((time.perf_counter() - began) / tick_s + 1) * per_tick)
        while sent < due:
            if sent % 50 == 0:
                probes += 1
                series = 90_000_000 + probes
                event = scheduled(
                    meeting_id=90_000_000 + probes,
                    organization_id=probe_org,
                    meeting_series_id=series,
                    start_time=at(start_time),
                    end_time=at(start_time + 60 * MINUTE_MS),
                    group_leader=leader(id=7),
                )
                value = json.dumps(event).encode()
                key = str(90_000_000 + probes).encode()
                pending[series] = time.perf_counter()
                result.handed[key.decode()] = time.time()
                deliveries.append(await producer.send(topics.meetings, value, key=key))
            else:
                topic, key, value = next(source)
                deliveries.append(await producer.send(topic, value, key=key))
            sent += 1
        await asyncio.sleep(max(0.0, began + (sent / per_tick) * tick_s - time.perf_counter()))
    result.seconds = time.perf_counter() - began
    result.sent = sent
    await asyncio.gather(*deliveries)
    done.set()
    try:
        async with asyncio.timeout(30):
            await poller
    except TimeoutError:
        bench.notes.append(f"freshness: {len(pending)} probes never became visible")
        poller.cancel()


# -- the report ----------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


TRACE_STAGES = (
    ("publish -> fetch answered", "handed", "fetched"),
    ("  (that fetch held by the broker)", "fetch_sent", "fetched"),
    ("fetch answered -> Faust message", "fetched", "message"),
    ("message -> batch taken", "message", "taken"),
    ("taken -> write began", "taken", "write_start"),
    ("write (3 round trips)", "write_start", "written"),
    ("written -> seen listed", "written", "visible"),
    ("publish -> seen listed", "handed", "visible"),
)


def trace_breakdown(fresh: Freshness) -> str:
    """Each stage of the probes' latency (``--trace``): p50, p99, and its mean in the slowest 1%."""
    if fresh.trace is None or not fresh.trace.exists():
        return ""
    probes = []
    for line in fresh.trace.read_text().splitlines():
        probe = json.loads(line)
        key = probe["key"]
        if key in fresh.handed and key in fresh.visible and "fetched" in probe:
            probes.append({**probe, "handed": fresh.handed[key], "visible": fresh.visible[key]})
    if not probes:
        return "trace: no probe traced"
    total = [1000 * (p["visible"] - p["handed"]) for p in probes]
    cut = percentile(total, 99)
    slowest = [p for p, t in zip(probes, total, strict=True) if t >= cut]
    rows = []
    for name, start, end in TRACE_STAGES:
        ms = [1000 * (p[end] - p[start]) for p in probes]
        worst = [1000 * (p[end] - p[start]) for p in slowest]
        rows.append(
            [
                name,
                f"{percentile(ms, 50):.1f}",
                f"{percentile(ms, 99):.1f}",
                f"{statistics.fmean(ms):.1f}",
                f"{statistics.fmean(worst):.1f}",
            ]
        )
    sizes = [p["batch"] for p in probes]
    return (
        f"  stages of {len(probes)} traced probes (ms; the slowest 1%: {len(slowest)} probes "
        f">= {cut:.1f} ms); batch size p50 {percentile(sizes, 50)}, max {max(sizes)}:\n"
        + table(["stage", "p50", "p99", "mean", "mean, slowest 1%"], rows)
    )


def report(bench: Bench) -> dict[str, Any]:
    """Print the tables; the same figures as data, for the results file."""
    r = bench.rates
    rows: list[list[str]] = []
    subjects: list[dict[str, Any]] = []
    freshness: list[dict[str, Any]] = []

    def row(name: str, subject: Rate, floor: Rate | None, target: str) -> None:
        ratio = f"{subject.rate / floor.rate:.2f}" if floor else ""
        subjects.append(
            {
                "subject": name.strip(),
                "events": subject.events,
                "seconds": round(subject.seconds, 2),
                "rate": round(subject.rate),
                "floor": floor.name if floor else None,
                "floor_rate": round(floor.rate) if floor else None,
                "ratio": round(subject.rate / floor.rate, 3) if floor else None,
                "target": target,
                "cpu_us": {kind: round(subject.cpu_us(kind), 1) for kind in subject.cpu_s},
            }
        )
        rows.append(
            [
                name,
                f"{subject.events:,}",
                f"{subject.seconds:.1f}",
                f"{subject.rate:,.0f}",
                floor.name if floor else "",
                f"{floor.rate:,.0f}" if floor else "",
                ratio,
                target,
            ]
        )

    if "projector" in r:
        ratio = r["projector"].rate / r["faust"].rate
        met = "met" if ratio >= TARGET_LIVE else "missed"
        row("aiokafka decode only", r["aiokafka"], None, "")
        row("Faust decode only", r["faust"], r["aiokafka"], "")
        row("projector, 1 worker", r["projector"], r["faust"], f">= {TARGET_LIVE}: {met}")
        row("  (vs aiokafka)", r["projector"], r["aiokafka"], "")
        row("Faust decode only x2", r["faust x2"], r["faust"], "")
        ratio2 = r["projector x2"].rate / r["faust x2"].rate
        row(
            "projector, 2 workers",
            r["projector x2"],
            r["faust x2"],
            f">= {TARGET_LIVE}: {'met' if ratio2 >= TARGET_LIVE else 'missed'}",
        )
        scale = r["projector x2"].rate / r["projector"].rate
        row("  (vs 1 worker)", r["projector x2"], r["projector"], f"scaling x{scale:.2f}")
    if "rebuild" in r:
        met = "met" if r["rebuild"].seconds <= TARGET_REBUILD_S else "missed"
        row(
            "rebuild reader decode only",
            r["rebuild floor"],
            r.get("aiokafka", None),
            "",
        )
        row(
            "rebuild (wall)", r["rebuild"], r["rebuild floor"], f"<= {TARGET_REBUILD_S:.0f}s: {met}"
        )
        if "rebuild replay" in r:
            row("rebuild (replay only)", r["rebuild replay"], r["rebuild floor"], "")
    header = ["subject", "events", "seconds", "events/s", "floor", "floor ev/s", "ratio", "target"]
    print(table(header, rows))
    if rows:
        print()
        print("CPU per event (µs) while measured (one core = 1 s per s):")
        kinds = ["worker", "reader", "redis", "kafka"]
        cpu_rows = [
            [rate.name, *(f"{rate.cpu_us(k):.1f}" if k in rate.cpu_s else "" for k in kinds)]
            for rate in r.values()
            if rate.cpu_s
        ]
        print(table(["subject", "python µs", "reader µs", "redis µs", "tansu µs"], cpu_rows))
    if bench.rebuild_output:
        print()
        print(bench.rebuild_output)
    for wait_ms, fresh in bench.freshness.items():
        lat = fresh.latencies_ms
        if not lat:
            continue
        p99 = percentile(lat, 99)
        freshness.append(
            {
                "fetch_max_wait_ms": wait_ms,
                "rate": round(fresh.sent / fresh.seconds),
                "seconds": round(fresh.seconds, 1),
                "probes": len(lat),
                "p50_ms": round(percentile(lat, 50), 1),
                "p90_ms": round(percentile(lat, 90), 1),
                "p99_ms": round(p99, 1),
                "max_ms": round(max(lat), 1),
                "target_p99_ms": TARGET_P99_MS,
            }
        )
        print()
        print(
            f"freshness (PROJECTOR_FETCH_MAX_WAIT_MS={wait_ms}) at "
            f"{fresh.sent / fresh.seconds:,.0f} events/s for {fresh.seconds:.0f}s, "
            f"{len(lat):,} probes: publish-to-visible "
            f"p50 {percentile(lat, 50):.1f} ms, p90 {percentile(lat, 90):.1f} ms, "
            f"p99 {p99:.1f} ms, max {max(lat):.1f} ms, mean {statistics.fmean(lat):.1f} ms "
            f"(target p99 <= {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'missed'})"
        )
        thirds = [lat[i * len(lat) // 3 : (i + 1) * len(lat) // 3] for i in range(3)]
        print(
            "  p50 / p99 by third of the run (a rise means the projector falls behind): "
            + "; ".join(
                f"{percentile(t, 50):.1f} / {percentile(t, 99):.1f} ms" for t in thirds if t
            )
        )
        kinds = ("worker", "redis", "kafka")
        if fresh.idle_cpu_s and fresh.idle_s:
            print(
                f"  CPU idle ({fresh.idle_s:.0f}s before publishing), % of a core: "
                + ", ".join(f"{k} {100 * fresh.idle_cpu_s[k] / fresh.idle_s:.1f}" for k in kinds)
            )
        if fresh.cpu_s:
            print(
                "  CPU while publishing, % of a core (µs per event): "
                + ", ".join(
                    f"{k} {100 * fresh.cpu_s[k] / fresh.seconds:.1f} "
                    f"({1e6 * fresh.cpu_s[k] / max(1, fresh.sent):.0f})"
                    for k in kinds
                )
                + " (kafka includes this bench's producer and reads)"
            )
        breakdown = trace_breakdown(fresh)
        if breakdown:
            print(breakdown)
    for note in bench.notes:
        print(note)
    if bench.args.profile:
        for raw in sorted(bench.logs.glob("*-profile.txt")):
            print(f"\nprofile {raw.name} (py-spy, {raw}):")
            print(summarize_profile(raw))
    return {
        "target": {
            "live_ratio": TARGET_LIVE,
            "rebuild_s": TARGET_REBUILD_S,
            "freshness_p99_ms": TARGET_P99_MS,
        },
        "subjects": subjects,
        "freshness": freshness,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated, of " + ", ".join(PARTS)
    )
    parser.add_argument("--events", type=int, default=200_000, help="records of the live part")
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=1000, help="events/s of the freshness part")
    parser.add_argument("--freshness-s", type=float, default=30)
    parser.add_argument(
        "--idle-s", type=float, default=5, help="freshness: CPU measured idle this long first"
    )
    parser.add_argument(
        "--fetch-wait-ms",
        default="1500,50",
        help="freshness with each of these PROJECTOR_FETCH_MAX_WAIT_MS (comma-separated)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="freshness: time each probe's stages in the worker (bench/fresh_trace.py)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds any one run may take")
    parser.add_argument("--profile", action="store_true", help="record with py-spy")
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="JSON file the results are saved to (default: bench/results/<date>.json)",
    )
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.fetch_wait_ms = [int(ms) for ms in args.fetch_wait_ms.split(",") if ms.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


async def run(bench: Bench) -> None:
    for part in bench.args.parts:
        await {"live": live, "rebuild": rebuild, "freshness": freshness}[part](bench)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-projector-"))
    settings = ProjectorSettings()
    with TansuBroker(log_dir=logs) as broker, RedisServer(log_dir=logs) as redis:
        bench = Bench(args, broker, redis, logs)
        asyncio.run(run(bench))
    redis_server = str(find_redis_server())
    setup = (
        f"Tansu (embedded, in memory), {PARTITIONS} partitions per topic; "
        f"projector batches: {settings.batch_size} records within {settings.batch_within_s}s, "
        f"rebuild batches: {settings.rebuild_batch_size}"
    )
    print()
    print(machine(redis_server))
    print(f"broker: {setup}")
    print()
    results = report(bench)
    saved = save_results(
        results_path(args.results), "projector", {"setup": setup, **results}, redis_server
    )
    print(f"\nresults: {saved}")
    print(f"\nlogs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
