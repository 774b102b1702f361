"""The endpoint's throughput and latency next to a floor, and Redis bytes per meeting.

    .venv/bin/python -m bench.api [--duration 10] [--connections 32] [--meetings 50000]
    scripts/bench [same options]

1. Starts a private Redis (devstack) and loads a read model of realistic size
   (``bench/dataset.py``) straight through ``RedisReadModel.apply``.
2. Measures Redis memory: ``used_memory`` (less client buffers) after each
   loading phase, so EAP copies are counted apart, and ``MEMORY USAGE`` of
   every key by kind, so the bytes of a meeting can be traced to its keys.
3. Starts ``python -m api`` twice (one worker each unless ``--workers``), with
   the answer cache on (``API_CACHE=1``: after the first request of a page,
   every request is a hit) and off (``API_CACHE=0``: every request reads
   Redis), and checks that both give each scenario's expected answer (page 1
   of the largest organization, page 50 of it, one series, an EAP
   organization, a member's list).
4. Starts the two floors (``bench/floor.py``): the fastest bare ASGI route, on
   granian and on uvicorn, each answering every scenario with the very headers
   and body the API gave for it.
5. For each scenario loads the API with the cache on, each floor and the API
   with the cache off with ``wrk`` in turn, the order alternating from one
   scenario to the next, and records the CPU time of the server, of Redis,
   and Redis's own time per script call. Each API row is set next to the
   faster floor of the same scenario: the ratio of throughputs, and of p99
   latencies. Targets: with the cache on, at least ``TARGET_RATIO`` of it
   with p99 at most ``TARGET_P99_RATIO`` times its p99; with the cache off,
   at least ``TARGET_MISS_RATIO``.
6. Prints the tables, the memory figures and the machine, and saves them as
   JSON (``--results``; by default ``bench/results/<date>.json``, which
   ``python -m bench.plots`` draws).

Exits 1 when any answer during a run was not 2xx (or a socket error occurred).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis import Redis as SyncRedis

from bench.dataset import Dataset, Shape, build_dataset, token_of
from bench.frames import print_top_frames
from bench.memory import Census, figures, load_and_count, report
from bench.report import machine, ms, results_path, save_results, table
from bench.wrk import WrkResult, run_wrk
from devstack.ports import free_port
from devstack.process import ChildProcess
from devstack.redis import RedisServer, find_redis_server

PREFIX = "um"
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO, TARGET_P99_RATIO = 0.8, 1.5  # cache on, to the faster floor
TARGET_MISS_RATIO = 0.6  # cache off, to the faster floor
VARIANTS = ("on", "off")  # API_CACHE of the two API processes measured
FLOORS = ("granian", "uvicorn")  # bench/floor.py's servers
# Headers each server writes itself: not part of the answer a floor replays.
SERVER_HEADERS = frozenset({"date", "server"})


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    organization_id: int
    total: int  # the total_items the answer must say
    count: int  # the meetings it must hold


@dataclass(frozen=True, slots=True)
class Run:
    wrk: WrkResult
    cpu_s: dict[str, float]  # process -> CPU seconds spent during the run
    script_us: float  # Redis's own time per script call (EVALSHA or EVALSHA_RO), 0 for none


def scenarios_of(data: Dataset) -> list[Scenario]:
    big = 1
    listed = data.listed(big)
    series, series_size = data.largest_series(big)
    member, followed = data.member_with(big, 4)
    eap = min(data.hpc_of, key=lambda org: (data.hpc_of[org], org))
    base = f"/api/v2/organizations/{big}"
    return [
        Scenario("page 1", f"{base}/upcoming_meetings", big, listed, min(20, listed)),
        Scenario(
            "page 50",
            f"{base}/upcoming_meetings?page=50&items=20",
            big,
            listed,
            max(0, min(20, listed - 980)),
        ),
        Scenario(
            "series",
            f"{base}/upcoming_meetings?meeting_series_id={series}",
            big,
            series_size,
            min(20, series_size),
        ),
        Scenario(
            "EAP org",
            f"/api/v2/organizations/{eap}/upcoming_meetings",
            eap,
            data.listed(eap),
            min(20, data.listed(eap)),
        ),
        Scenario(
            "member",
            f"{base}/members/{member}/upcoming_meetings",
            big,
            followed,
            min(20, followed),
        ),
    ]


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def cpu_seconds(group: int) -> float:
    """CPU time of every process of a process group (a server and its workers)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the children waited for so far (wrk's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def script_stats(commandstats: dict[str, Any]) -> float:
    """Redis's time per script call: the page scripts run by ``EVALSHA_RO`` (or
    ``EVALSHA`` where Redis is older than 7)."""
    calls = usec = 0.0
    for command in ("cmdstat_evalsha", "cmdstat_evalsha_ro"):
        stats = commandstats.get(command, {})
        calls += float(stats.get("calls", 0))
        usec += float(stats.get("usec", 0))
    return usec / calls if calls else 0.0


def measure(url: str, args: argparse.Namespace, token: str, pids: dict[str, int]) -> Run:
    with SyncRedis(port=args.redis_port) as redis:
        redis.config_resetstat()
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        children = children_cpu_seconds()
        result = run_wrk(
            url,
            duration_s=args.duration,
            connections=args.connections,
            threads=args.threads,
            headers={"Authorization": f"Bearer {token}"},
        )
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        spent["wrk"] = children_cpu_seconds() - children
        stats = script_stats(redis.info("commandstats"))
    return Run(result, spent, stats)


def wait_until_ok(url: str, child: ChildProcess, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if not child.is_running():
            raise SystemExit(f"{child.name} exited:\n" + "\n".join(child.last_lines()))
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer 200 within {timeout_s:.0f} s")
        time.sleep(0.2)


def check(api: str, scenario: Scenario) -> httpx.Response:
    """Fetch the scenario once and check the answer."""
    response = httpx.get(
        api + scenario.path,
        headers={"Authorization": f"Bearer {token_of(scenario.organization_id)}"},
        timeout=10,
    )
    body = response.json() if response.status_code == 200 else {}
    if (body.get("total_items"), len(body.get("meetings", []))) != (scenario.total, scenario.count):
        raise SystemExit(
            f"{scenario.name}: expected 200 with {scenario.total} meetings, "
            f"{scenario.count} on the page; got {response.status_code} {response.text[:200]}"
        )
    return response


def floor_path(index: int) -> str:
    return f"/floor/{index}"


def write_answers(path: Path, answers: list[httpx.Response]) -> None:
    """What the floors replay (``bench/floor.py``): each scenario's headers and body."""
    replayed = {
        floor_path(i): {
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in answer.headers.raw
                if name.decode("latin-1").lower() not in SERVER_HEADERS
            ],
            "body": answer.text,
        }
        for i, answer in enumerate(answers)
    }
    path.write_text(json.dumps(replayed))


def faster_floor(runs: dict[str, Run], scenario: str) -> tuple[str, Run]:
    """The floor of the scenario with the higher throughput, and its name."""
    return max(
        ((server, runs[f"floor {server} {scenario}"]) for server in FLOORS),
        key=lambda named: named[1].wrk.rate,
    )


def per_request_us(run: Run, name: str) -> str:
    return f"{run.cpu_s[name] / max(1, run.wrk.requests) * 1e6:.0f}"


def share(run: Run, name: str) -> str:
    return f"{100 * run.cpu_s[name] / run.wrk.seconds:.0f}%"


def print_runs(
    scenarios: list[Scenario], sizes: dict[str, int], runs: dict[str, Run]
) -> list[dict[str, Any]]:
    """Print the tables; the same figures as records, for the results file."""
    rows, costs, records = [], [], []
    for s in scenarios:
        floor_name, floor = faster_floor(runs, s.name)
        for variant in VARIANTS:
            api = runs[f"{s.name} {variant}"]
            ratio, p99_ratio = api.wrk.rate / floor.wrk.rate, api.wrk.p99_ms / floor.wrk.p99_ms
            if variant == "on":
                met = ratio >= TARGET_RATIO and p99_ratio <= TARGET_P99_RATIO
            else:
                met = ratio >= TARGET_MISS_RATIO
            failed = [r for r in (api, floor) if not r.wrk.ok]
            verdict = "FAILED" if failed else "met" if met else "missed"
            records.append(
                {
                    "scenario": s.name,
                    "cache": variant,
                    "body_bytes": sizes[s.name],
                    "rate": round(api.wrk.rate),
                    "p50_ms": round(api.wrk.p50_ms, 3),
                    "p99_ms": round(api.wrk.p99_ms, 3),
                    "floor": floor_name,
                    "floor_rate": round(floor.wrk.rate),
                    "floor_p50_ms": round(floor.wrk.p50_ms, 3),
                    "floor_p99_ms": round(floor.wrk.p99_ms, 3),
                    "floors": {
                        server: {
                            "rate": round(runs[f"floor {server} {s.name}"].wrk.rate),
                            "p99_ms": round(runs[f"floor {server} {s.name}"].wrk.p99_ms, 3),
                        }
                        for server in FLOORS
                    },
                    "ratio": round(ratio, 3),
                    "p99_ratio": round(p99_ratio, 3),
                    "verdict": verdict,
                }
            )
            rows.append(
                [
                    s.name,
                    variant,
                    sizes[s.name],
                    f"{api.wrk.rate:,.0f}",
                    ms(api.wrk.p50_ms),
                    ms(api.wrk.p99_ms),
                    *(f"{runs[f'floor {server} {s.name}'].wrk.rate:,.0f}" for server in FLOORS),
                    floor_name,
                    ms(floor.wrk.p99_ms),
                    f"{ratio:.2f}",
                    f"{p99_ratio:.2f}",
                    verdict,
                ]
            )
            costs.append(
                [
                    s.name,
                    variant,
                    per_request_us(api, "server"),
                    per_request_us(floor, "server"),
                    per_request_us(api, "redis"),
                    f"{api.script_us:.1f}",
                    share(api, "server"),
                    share(api, "redis"),
                    share(api, "wrk"),
                    share(floor, "server"),
                    share(floor, "wrk"),
                ]
            )
    header = [
        "scenario",
        "cache",
        "body B",
        "req/s",
        "p50 ms",
        "p99 ms",
        *(f"{server} req/s" for server in FLOORS),
        "floor",
        "floor p99",
        "ratio",
        "p99 ratio",
        "target",
    ]
    print(table(header, rows))
    print(
        "ratios to the faster floor of the same run; target: cache on, ratio >= "
        f"{TARGET_RATIO} and p99 ratio <= {TARGET_P99_RATIO}; cache off, ratio >= "
        f"{TARGET_MISS_RATIO}"
    )
    print()
    print("CPU per request (µs) and CPU use during each run (100% = one core):")
    header = [
        "scenario",
        "cache",
        "api µs",
        "floor µs",
        "redis µs",
        "script µs",
        "api CPU",
        "redis CPU",
        "wrk CPU",
        "floor CPU",
        "wrk CPU",
    ]
    print(table(header, costs))
    return records


def print_memory(data: Dataset, memory: tuple[dict[str, int], Census]) -> None:
    print("Redis memory (bench/memory.py):")
    print(textwrap.indent(report(data, *memory), "  "))


def warm_up(urls: list[tuple[str, str]], args: argparse.Namespace) -> None:
    for url, token in urls:
        run_wrk(
            url,
            duration_s=args.warmup,
            connections=args.connections,
            threads=args.threads,
            headers={"Authorization": f"Bearer {token}"},
        )


def profile(
    api_pid: int, url: str, token: str, args: argparse.Namespace, logs: Path, variant: str
) -> None:
    """Record where the API spends its time under load (py-spy, if installed) and
    print its top frames (``bench/frames.py``); the collapsed stacks are kept."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        print("--profile: py-spy is not installed (`.venv/bin/pip install py-spy`)")
        return
    output = logs / f"api-profile-cache-{variant}.txt"
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(api_pid),
            "--duration",
            f"{args.duration:.0f}",
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_wrk(
            url,
            duration_s=args.duration,
            connections=args.connections,
            threads=args.threads,
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        recorder.wait(timeout=args.duration + 60)
    print_top_frames(output, f"profile of the API under load (page 1, cache {variant})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    shape = Shape()
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers of the API and of the floor"
    )
    parser.add_argument("--organizations", type=int, default=shape.organizations)
    parser.add_argument("--meetings", type=int, default=shape.meetings)
    parser.add_argument("--weeks", type=int, default=shape.weeks)
    parser.add_argument("--eap-organizations", type=int, default=shape.eap_organizations)
    parser.add_argument(
        "--registrations", type=float, default=shape.registrations, help="per meeting"
    )
    parser.add_argument("--seed", type=int, default=shape.seed)
    parser.add_argument(
        "--profile", action="store_true", help="then record the API with py-spy under load"
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="JSON file the results are saved to (default: bench/results/<date>.json)",
    )
    args = parser.parse_args(argv)
    if args.eap_organizations < 1 or args.organizations < args.eap_organizations + 1:
        parser.error("need at least one EAP organization and more organizations than that")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-api-"))
    shape = Shape(
        organizations=args.organizations,
        meetings=args.meetings,
        weeks=args.weeks,
        eap_organizations=args.eap_organizations,
        registrations=args.registrations,
        seed=args.seed,
    )
    began = time.monotonic()
    data = build_dataset(shape)
    with RedisServer(log_dir=logs) as redis:
        memory = asyncio.run(load_and_count(redis.url, data))
        print(f"built and loaded the read model in {time.monotonic() - began:.0f} s")
        args.redis_port = redis.port
        api_port, cold_port, *floor_ports = distinct_ports(2 + len(FLOORS))
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "REDIS_KEY_PREFIX": PREFIX,
            "API_HOST": "127.0.0.1",
            "API_WORKERS": str(args.workers),
            "API_READY_MAX_STALENESS_S": "0",
        }
        api_argv = [sys.executable, "-m", "api"]
        hot_env = {**env, "API_PORT": str(api_port), "API_CACHE": "1"}
        cold_env = {**env, "API_PORT": str(cold_port), "API_CACHE": "0"}
        api_url, cold_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{cold_port}"
        scenarios = scenarios_of(data)
        with (
            ChildProcess("api", api_argv, logs / "api.log", env=hot_env, cwd=ROOT) as api,
            ChildProcess(
                "api-nocache", api_argv, logs / "api-nocache.log", env=cold_env, cwd=ROOT
            ) as cold,
        ):
            wait_until_ok(api_url + "/readyz", api)
            wait_until_ok(cold_url + "/readyz", cold)
            answers = [check(api_url, s) for s in scenarios]
            sizes = {s.name: len(a.content) for s, a in zip(scenarios, answers, strict=True)}
            for s, answer in zip(scenarios, answers, strict=True):
                if check(cold_url, s).content != answer.content:
                    raise SystemExit(f"{s.name}: the two API processes answer differently")
            write_answers(logs / "answers.json", answers)
            with contextlib.ExitStack() as floors:
                floor_urls: dict[str, str] = {}
                floor_pids: dict[str, int] = {}
                for server, port in zip(FLOORS, floor_ports, strict=True):
                    argv = [sys.executable, "-m", "bench.floor", "--server", server]
                    argv += ["--port", str(port), "--workers", str(args.workers)]
                    argv += ["--answers", str(logs / "answers.json")]
                    floor = floors.enter_context(
                        ChildProcess(f"floor-{server}", argv, logs / f"{server}.log", cwd=ROOT)
                    )
                    floor_urls[server] = f"http://127.0.0.1:{port}"
                    wait_until_ok(floor_urls[server] + floor_path(0), floor)
                    assert floor.pid is not None
                    floor_pids[server] = floor.pid
                token = token_of(scenarios[0].organization_id)
                warm_up(
                    [
                        (api_url + scenarios[0].path, token),
                        (cold_url + scenarios[0].path, token),
                        *((url + floor_path(0), token) for url in floor_urls.values()),
                    ],
                    args,
                )
                assert api.pid is not None and cold.pid is not None and redis.pid is not None
                runs: dict[str, Run] = {}
                for i, s in enumerate(scenarios):
                    token = token_of(s.organization_id)
                    order = [
                        (f"{s.name} on", api_url + s.path, api.pid),
                        *(
                            (f"floor {server} {s.name}", floor_urls[server] + floor_path(i), pid)
                            for server, pid in floor_pids.items()
                        ),
                        (f"{s.name} off", cold_url + s.path, cold.pid),
                    ]
                    for name, url, pid in order if i % 2 else reversed(order):
                        runs[name] = measure(url, args, token, {"server": pid, "redis": redis.pid})
                        print(f"  {name}: {runs[name].wrk.rate:,.0f} req/s", file=sys.stderr)
            if args.profile:
                profile(api.pid, api_url + scenarios[0].path, token_of(1), args, logs, "on")
                profile(cold.pid, cold_url + scenarios[0].path, token_of(1), args, logs, "off")
            redis_server = str(find_redis_server())
    print()
    print(machine(redis_server))
    load = (
        f"wrk, {args.threads} thread, {args.connections} connections, "
        f"{args.duration:g} s per run, on loopback; API: python -m api, "
        f"{args.workers} uvicorn worker(s), with API_CACHE on (every run after the first "
        "request of a page is a cache hit) and off; "
        "floors: bench/floor.py (the fastest bare ASGI route on granian and on uvicorn, "
        "replaying each scenario's very headers and body)"
    )
    print(f"load: {load}")
    print()
    records = print_runs(scenarios, sizes, runs)
    print()
    print_memory(data, memory)
    saved = save_results(
        results_path(args.results),
        "api",
        {
            "load": load,
            "target": {
                "ratio": TARGET_RATIO,
                "p99_ratio": TARGET_P99_RATIO,
                "miss_ratio": TARGET_MISS_RATIO,
            },
            "runs": records,
            "memory": figures(data, *memory),
        },
        redis_server,
    )
    print(f"\nresults: {saved}")
    print(f"\nlogs: {logs}")
    failed = [name for name, run in runs.items() if not run.wrk.ok]
    for name in failed:
        print(f"\n{name} FAILED (non-2xx answers or socket errors):\n{runs[name].wrk.report}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
