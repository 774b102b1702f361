"""Reading your own writes: publish-to-consistent-read latency, and what a token costs.

    .venv/bin/python -m bench.consistency [--rates 200,1000] [--duration 30]
        [--wrk-duration 2] [--rounds 15] [--events 50000]
    scripts/bench consistency [same options]

Starts an embedded Tansu broker and a private Redis (devstack), publishes a
mixed history (``bench/history.py``, ``--events``), starts ``python -m
projector worker`` and ``python -m api`` (one worker, answer cache on) on it,
and waits until the projector has caught up. Then, in the same run:

latency
    For each of ``--rates``, a background stream of the history's
    continuation at that many events/s for ``--duration`` seconds, and
    meanwhile probes, one at a time: a registration to a probe meeting on
    page 1 of organization 1 (the history's largest), published with
    ``KafkaEventPublisher.publish``, which returns its token. Every other
    probe then asks at once for page 1 with ``X-Consistency-Token: <token>``;
    its latency runs from the start of ``publish`` to the 200 that counts the
    registration. A 200 that does not count it fails the run; a 503 (the
    wait ran out) is counted, as slower than any 200. The probes in between send no token and poll
    page 1 every millisecond until an answer counts the registration: the
    floor, publish-to-visible through the same API, that the token's latency
    is set next to.
throughput
    With the stream stopped and the projector caught up, ``wrk`` loads page
    1 of organization 1 (``bench/wrk.py``) without a token, with a header of
    the same size that is not a token (a control: what the bytes cost, and
    how far two runs of the same cost differ), with the API's own token
    (echoed from an answer, as the widget does: every partition) and with a
    publisher's (one entry), both already applied, ``--rounds`` times each,
    each round starting with the next variant. Each token
    is set next to no token in the same round (short runs, many rounds: the
    load of a shared machine drifts within seconds): the median of those
    ratios of req/s (target at least ``TARGET_RATIO``) and of p99, and the
    ratio of the API's CPU per request.

Prints the tables, the machine and the load average, and saves the figures
as JSON (``--results``; by default ``bench/results/<date>.json``). Exits 1
when any request of a ``wrk`` run was not 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.api import cpu_seconds, wait_until_ok
from bench.history import Published, mixed_history, token_of
from bench.projector import Bench, catch_up, percentile, prepare_history
from bench.report import machine, ms, results_path, save_results, table
from bench.wrk import WrkResult, run_wrk
from devstack.kafka import TansuBroker
from devstack.ports import free_port
from devstack.process import ChildProcess
from devstack.redis import RedisServer, find_redis_server
from events.consistency import parse_token
from events.models import decode_event
from events.publisher import KafkaEventPublisher
from events.times import wall_clock_ms
from events.topics import Topics
from tests.builders import HOUR_MS, MINUTE_MS, at, leader, registration_created, scheduled

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "consistency"
TARGET_RATIO = 0.9  # req/s with a token already applied, to the same request without one
PROBE_ORG = 1  # the history's largest organization
PROBE_MEETING = 90_000_000  # past every id of the history and its continuations
POLL_S = 0.001  # the floor's interval between reads
POLL_LIMIT_S = 30.0
TICK_S = 0.01  # the background stream sends each tick's share at once
NEVER = math.inf  # the latency of a probe answered 503: its write was not read


@dataclass(frozen=True, slots=True)
class Probe:
    token: bool  # read with the publisher's token; else polled without one
    publish_ms: float  # from publish's start until it returned (the broker has it)
    total_ms: float | None  # from publish's start until the 200 that counts it; None: 503


@dataclass
class Stream:
    rate: int  # events/s asked of the background stream
    sent: int = 0  # background events and probes
    seconds: float = 0.0
    probes: list[Probe] = field(default_factory=list)

    def latencies(self, token: bool) -> list[float]:
        """Of the probes read with a token or polled; ``NEVER`` for a 503."""
        return [
            NEVER if p.total_ms is None else p.total_ms for p in self.probes if p.token is token
        ]

    def publishes(self, token: bool) -> list[float]:
        return [p.publish_ms for p in self.probes if p.token is token]


@dataclass(frozen=True, slots=True)
class Run:
    wrk: WrkResult
    api_cpu_s: float


@dataclass
class Prober:
    """What the probes share: the publisher, an HTTP client, and the count so far."""

    publisher: KafkaEventPublisher
    client: httpx.AsyncClient
    url: str
    registered: int = 0
    last_token: str = ""


# -- latency ---------------------------------------------------------------------------


def attendees(response: httpx.Response) -> int:
    """The probe meeting's registered_attendees in an answer of page 1."""
    if response.status_code != 200:
        raise SystemExit(f"page 1 answered {response.status_code}: {response.text[:200]}")
    for meeting in response.json()["meetings"]:
        if meeting["id"] == PROBE_MEETING:
            count: int = meeting["registered_attendees"]
            return count
    raise SystemExit(f"the probe meeting {PROBE_MEETING} is not on page 1")


async def schedule_probe_meeting(prober: Prober) -> None:
    """The meeting the probes register for: first on page 1, upcoming for hours."""
    start = (wall_clock_ms() // MINUTE_MS + 10) * MINUTE_MS  # the history's begin in an hour
    event = scheduled(
        meeting_id=PROBE_MEETING,
        organization_id=PROBE_ORG,
        meeting_series_id=None,
        start_time=at(start),
        end_time=at(start + 12 * HOUR_MS),
        max_attendees=1_000_000,
        group_leader=leader(id=7),
    )
    token = await prober.publisher.publish(decode_event(json.dumps(event)))
    response = await prober.client.get(prober.url, headers={"X-Consistency-Token": token})
    if attendees(response) != 0:
        raise SystemExit("the probe meeting has registrations already")


async def probe(prober: Prober, with_token: bool) -> Probe:
    """Publish one registration; time it until an answer of page 1 counts it."""
    prober.registered += 1
    n = prober.registered
    event = registration_created(
        registration_id=PROBE_MEETING + n, meeting_id=PROBE_MEETING, user_id=PROBE_MEETING + n
    )
    model = decode_event(json.dumps(event))
    began = time.perf_counter()
    token = await prober.publisher.publish(model)
    published = time.perf_counter()
    prober.last_token = token
    if with_token:
        response = await prober.client.get(prober.url, headers={"X-Consistency-Token": token})
        if response.status_code == 503:
            return Probe(True, 1000 * (published - began), None)
        count = attendees(response)
        if count < n:
            raise SystemExit(
                f"probe {n}: the answer to token {token} counts {count} registrations, not {n} "
                f"(its own token: {response.headers.get('x-consistency-token')})"
            )
    else:
        while attendees(await prober.client.get(prober.url)) < n:
            if time.perf_counter() - began > POLL_LIMIT_S:
                raise SystemExit(f"probe {n} was not visible after {POLL_LIMIT_S:.0f} s")
            await asyncio.sleep(POLL_S)
    return Probe(with_token, 1000 * (published - began), 1000 * (time.perf_counter() - began))


async def publish_steadily(
    producer: AIOKafkaProducer, records: Sequence[Published], rate: int, seconds: float
) -> int:
    """Send ``records`` at ``rate`` per second for ``seconds``; how many were sent."""
    per_tick = max(1, round(rate * TICK_S))
    total = min(len(records), int(rate * seconds))
    began = time.perf_counter()
    deliveries = []
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - began) / TICK_S + 1) * per_tick)
        while sent < due:
            topic, key, value = records[sent]
            deliveries.append(await producer.send(topic, value, key=key))
            sent += 1
        await asyncio.sleep(max(0.0, began + (sent / per_tick) * TICK_S - time.perf_counter()))
    await asyncio.gather(*deliveries)
    return sent


async def stream_and_probe(
    prober: Prober,
    producer: AIOKafkaProducer,
    topics: Topics,
    rate: int,
    index: int,
    args: argparse.Namespace,
) -> Stream:
    """Probes, alternately with a token and polling, while the stream runs."""
    records = mixed_history(
        int(rate * args.duration) + 1000, topics, first_id=50_000_000 * (index + 1), head=False
    )
    stream = Stream(rate)
    began = time.perf_counter()
    background = asyncio.create_task(publish_steadily(producer, records, rate, args.duration))
    while not background.done():
        stream.probes.append(await probe(prober, with_token=len(stream.probes) % 2 == 0))
        await asyncio.sleep(args.probe_gap_ms / 1000)
    stream.seconds = time.perf_counter() - began
    stream.sent = await background + len(stream.probes)
    with_token = stream.latencies(True)
    print(
        f"  {rate} events/s: {len(stream.probes)} probes, with the token p50 "
        f"{percentile(with_token, 50):.1f} ms",
        file=sys.stderr,
    )
    return stream


async def latency(bench: Bench, api_url: str, projector: ChildProcess) -> tuple[list[Stream], str]:
    """A stream per rate, probed; and the last probe's token (applied once caught up)."""
    topics = Topics.with_prefix(f"{NAMESPACE}.")
    bootstrap = bench.broker.bootstrap_servers
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    url = f"{api_url}/api/v2/organizations/{PROBE_ORG}/upcoming_meetings"
    headers = {"Authorization": f"Bearer {token_of(PROBE_ORG)}"}
    streams = []
    async with (
        KafkaEventPublisher(bootstrap, topics) as publisher,
        httpx.AsyncClient(headers=headers, timeout=10) as client,
    ):
        prober = Prober(publisher, client, url)
        await schedule_probe_meeting(prober)
        await producer.start()
        try:
            for index, rate in enumerate(bench.args.rates):
                streams.append(
                    await stream_and_probe(prober, producer, topics, rate, index, bench.args)
                )
                await catch_up(bench, f"{NAMESPACE}-projector", topics, projector)
        finally:
            await producer.stop()
    return streams, prober.last_token


# -- throughput ------------------------------------------------------------------------


def throughput(
    api_url: str, api_pid: int, publisher_token: str, args: argparse.Namespace
) -> dict[str, list[Run]]:
    """wrk on page 1 without a token, with a header as long that is not one, and with two
    applied tokens; each round starts with the next variant, so each runs in each place of
    a round as often as the others."""
    url = f"{api_url}/api/v2/organizations/{PROBE_ORG}/upcoming_meetings"
    auth = {"Authorization": f"Bearer {token_of(PROBE_ORG)}"}
    own = httpx.get(url, headers=auth, timeout=10).headers["x-consistency-token"]
    topics = Topics.with_prefix(f"{NAMESPACE}.").names()
    applied = parse_token(own, topics)  # what the API has applied now
    if not applied.covers(parse_token(publisher_token, topics)):
        raise SystemExit(f"the API's position {own} does not cover {publisher_token}")
    entries = len(applied.offsets)
    variants = {
        "no token": auth,
        f"no token, a {len(own)}-byte other header": {**auth, "X-Padding": "p" * len(own)},
        f"the API's token ({entries} entries)": {**auth, "X-Consistency-Token": own},
        "a publisher's token (1 entry)": {**auth, "X-Consistency-Token": publisher_token},
    }
    for name, headers in variants.items():
        response = httpx.get(url, headers=headers, timeout=10)
        if response.status_code != 200:
            raise SystemExit(f"{name}: answered {response.status_code}")
        run_wrk(url, duration_s=args.warmup, connections=args.connections, headers=headers)
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    order = list(variants.items())
    for round_ in range(args.rounds):
        turn = round_ % len(order)
        for name, headers in order[turn:] + order[:turn]:
            before = cpu_seconds(api_pid)
            result = run_wrk(
                url, duration_s=args.wrk_duration, connections=args.connections, headers=headers
            )
            runs[name].append(Run(result, cpu_seconds(api_pid) - before))
            print(f"  {name}: {result.rate:,.0f} req/s", file=sys.stderr)
    return runs


# -- the report ------------------------------------------------------------------------


def rounded(value: float) -> float | None:
    """A latency in the results file: None for a 503 (``NEVER``)."""
    return None if value == NEVER else round(value, 1)


def shown(value: float | None) -> str:
    return "503" if value is None else f"{value:.1f}"


def summary(latencies: list[float], publishes: list[float]) -> dict[str, Any]:
    return {
        "n": len(latencies),
        "p50_ms": rounded(percentile(latencies, 50)),
        "p99_ms": rounded(percentile(latencies, 99)),
        "max_ms": rounded(max(latencies)),
        "publish_p50_ms": rounded(percentile(publishes, 50)),
        "unavailable": latencies.count(NEVER),
    }


def ratio(value: float | None, floor: float | None) -> float | None:
    return None if value is None or floor is None else round(value / floor, 2)


def report_latency(streams: list[Stream]) -> list[dict[str, Any]]:
    rows, records = [], []
    for s in streams:
        if not s.latencies(True) or not s.latencies(False):
            continue
        token = summary(s.latencies(True), s.publishes(True))
        floor = summary(s.latencies(False), s.publishes(False))
        p50_ratio = ratio(token["p50_ms"], floor["p50_ms"])
        p99_ratio = ratio(token["p99_ms"], floor["p99_ms"])
        records.append(
            {
                "rate": s.rate,
                "sent_rate": round(s.sent / s.seconds),
                "seconds": round(s.seconds, 1),
                "token": token,
                "polling": floor,
                "p50_ratio": p50_ratio,
                "p99_ratio": p99_ratio,
            }
        )
        for name, figures, ratios in (
            ("with the token", token, [p50_ratio, p99_ratio]),
            ("polling, no token", floor, None),
        ):
            rows.append(
                [
                    f"{s.rate:,}",
                    f"{s.sent / s.seconds:,.0f}",
                    name,
                    figures["n"],
                    *(shown(figures[k]) for k in ("p50_ms", "p99_ms", "max_ms", "publish_p50_ms")),
                    figures["unavailable"] if ratios else "",
                    *(("" if r is None else f"{r:.2f}") for r in ratios or [None, None]),
                ]
            )
    header = ["rate", "sent/s", "read", "n", "p50 ms", "p99 ms", "max ms"]
    header += ["publish p50", "503", "p50 ratio", "p99 ratio"]
    print("publish-to-consistent-read (from publish's start to the 200 that counts the write):")
    print(table(header, rows))
    print(
        "rate: events/s of the background stream; sent/s: with the probes; publish: until "
        "publish returned the token; 503: the wait ran out (API_CONSISTENCY_MAX_WAIT_MS), "
        "counted as slower than any 200; ratios: with the token to polling, same run"
    )
    return records


def report_throughput(runs: dict[str, list[Run]]) -> list[dict[str, Any]]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    def cpu_us(runs: list[Run]) -> float:
        return 1e6 * sum(r.api_cpu_s for r in runs) / max(1, sum(r.wrk.requests for r in runs))

    names = list(runs)
    base = runs[names[0]]
    rows, records = [], []
    for name in names:
        rate = median([r.wrk.rate for r in runs[name]])
        p50 = median([r.wrk.p50_ms for r in runs[name]])
        p99 = median([r.wrk.p99_ms for r in runs[name]])
        pairs = list(zip(runs[name], base, strict=True))  # the same round's
        ratio = median([run.wrk.rate / none.wrk.rate for run, none in pairs])
        p99_ratio = median([run.wrk.p99_ms / none.wrk.p99_ms for run, none in pairs])
        cpu_ratio = cpu_us(runs[name]) / cpu_us(base)
        first = name == names[0]
        failed = not all(r.wrk.ok for r in runs[name])
        verdict = (
            "FAILED" if failed else "" if first else "met" if ratio >= TARGET_RATIO else "missed"
        )
        records.append(
            {
                "request": name,
                "rates": [round(r.wrk.rate) for r in runs[name]],
                "rate": round(rate),
                "p50_ms": round(p50, 3),
                "p99_ms": round(p99, 3),
                "api_cpu_us": round(cpu_us(runs[name]), 1),
                "ratio": round(ratio, 3),
                "p99_ratio": round(p99_ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
                "verdict": verdict,
            }
        )
        rows.append(
            [
                name,
                " ".join(f"{r.wrk.rate:,.0f}" for r in runs[name]),
                f"{rate:,.0f}",
                ms(p50),
                ms(p99),
                f"{cpu_us(runs[name]):.0f}",
                "" if first else f"{ratio:.2f}",
                "" if first else f"{p99_ratio:.2f}",
                "" if first else f"{cpu_ratio:.2f}",
                verdict,
            ]
        )
    header = ["page 1 of organization 1", "req/s by round", "req/s", "p50 ms", "p99 ms"]
    header += ["API µs/req", "ratio", "p99 ratio", "µs ratio", "target"]
    print("API throughput with tokens already applied, next to no token (medians of the rounds):")
    print(table(header, rows))
    print(
        "ratio, p99 ratio: the median over the rounds of each round's ratio to no token; "
        f"µs ratio: of the API's CPU per request over all rounds; target: ratio >= {TARGET_RATIO}"
    )
    return records


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", default="200,1000", help="events/s of the background stream, comma-separated"
    )
    parser.add_argument("--duration", type=float, default=30, help="seconds of each stream")
    parser.add_argument(
        "--probe-gap-ms", type=float, default=20, help="pause between one probe and the next"
    )
    parser.add_argument("--events", type=int, default=50_000, help="records of the history")
    parser.add_argument("--wrk-duration", type=float, default=2, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of wrk per variant first")
    parser.add_argument("--rounds", type=int, default=15, help="wrk runs of each variant")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a catch-up may take")
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="JSON file the results are saved to (default: bench/results/<date>.json)",
    )
    args = parser.parse_args(argv)
    try:
        args.rates = [int(rate) for rate in args.rates.split(",") if rate.strip()]
    except ValueError:
        parser.error("--rates: comma-separated whole numbers of events per second")
    if not args.rates or min(args.rates) < 1 or args.rounds < 1 or args.duration <= 0:
        parser.error("need at least one rate of 1 or more, a duration and a round")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-consistency-"))
    loads = [load_average()]
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    with TansuBroker(log_dir=logs) as broker, RedisServer(log_dir=logs) as redis:
        bench = Bench(args, broker, redis, logs)
        asyncio.run(prepare_history(bench, NAMESPACE, args.events))
        env = bench.environment(NAMESPACE, PROJECTOR_GROUP_ID=f"{NAMESPACE}-projector")
        api_env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(api_port), "API_WORKERS": "1"}
        with (
            ChildProcess(
                "projector",
                [sys.executable, "-m", "projector", "worker"],
                logs / "projector.log",
                env=env,
                cwd=ROOT,
            ) as projector,
            ChildProcess(
                "api", [sys.executable, "-m", "api"], logs / "api.log", env=api_env, cwd=ROOT
            ) as api,
        ):
            topics = Topics.with_prefix(f"{NAMESPACE}.")
            asyncio.run(catch_up(bench, f"{NAMESPACE}-projector", topics, projector))
            wait_until_ok(api_url + "/readyz", api)
            streams, publisher_token = asyncio.run(latency(bench, api_url, projector))
            loads.append(load_average())
            assert api.pid is not None
            runs = throughput(api_url, api.pid, publisher_token, args)
            loads.append(load_average())
    redis_server = str(find_redis_server())
    setup = (
        f"Tansu (embedded, in memory), 4 partitions per topic; a history of {args.events:,} "
        f"records; python -m projector worker and python -m api (1 uvicorn worker, answer "
        f"cache on); streams of {args.duration:g} s; wrk, 1 thread, {args.connections} "
        f"connections, {args.wrk_duration:g} s per run, {args.rounds} rounds"
    )
    print()
    print(machine(redis_server))
    print(f"load average (1, 5, 15 min): {' -> '.join(loads)} (start, after latency, end)")
    print(f"setup: {setup}")
    print()
    latency_records = report_latency(streams)
    print()
    throughput_records = report_throughput(runs)
    saved = save_results(
        results_path(args.results),
        "consistency",
        {
            "setup": setup,
            "load_average": loads,
            "target": {"ratio": TARGET_RATIO},
            "latency": latency_records,
            "throughput": throughput_records,
        },
        redis_server,
    )
    print(f"\nresults: {saved}")
    print(f"\nlogs: {logs}")
    failed = any(not r.wrk.ok for rs in runs.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
