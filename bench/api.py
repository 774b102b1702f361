"""The endpoint's throughput and latency next to a floor, and Redis bytes per meeting.

    .venv/bin/python -m bench.api [--duration 10] [--connections 32] [--meetings 50000]
    scripts/bench [same options]

1. Starts a private Redis (devstack) and loads a read model of realistic size
   (``bench/dataset.py``) straight through ``RedisReadModel.apply``.
2. Measures Redis memory: ``used_memory`` (less client buffers) after each
   loading phase, so EAP copies are counted apart, and ``MEMORY USAGE`` of
   every key by kind, so the bytes of a meeting can be traced to its keys.
3. Starts ``python -m api`` twice (one worker each), with the answer cache on
   (``API_CACHE=1``: after the first request of a page, every request is a
   hit) and off (``API_CACHE=0``: every request reads Redis), and the floor
   (``bench/floor.py``, a bare Starlette route on uvicorn with the same
   settings, returning a body of the same size and the same headers).
4. For each scenario (page 1 of the largest organization, page 50 of it, one
   series, an EAP organization, a member's list) checks that both APIs give
   the expected answer, then loads the API with the cache on, the floor and
   the API with the cache off with ``wrk`` in turn, the order alternating from
   one scenario to the next, and records the CPU time of the server, of Redis,
   and Redis's own time per script call. Each API row is set next to the floor
   of the same scenario.
5. Prints the tables, the memory figures and the machine, and saves them as
   JSON (``--results``; by default ``bench/results/<date>.json``, which
   ``python -m bench.plots`` draws).

Exits 1 when any answer during a run was not 2xx (or a socket error occurred).
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.memory import Census, figures, load_and_count, report
from bench.report import machine, ms, results_path, save_results, table
from bench.wrk import WrkResult, run_wrk
from devstack.ports import free_port
from devstack.process import ChildProcess
from devstack.redis import RedisServer, find_redis_server

PREFIX = "um"
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO, TARGET_P99_RATIO = 0.6, 2.0
VARIANTS = ("on", "off")  # API_CACHE of the two API processes measured


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
    script_us: float  # Redis's own time per EVALSHA, 0 for none


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
        stats = redis.info("commandstats").get("cmdstat_evalsha", {})
    return Run(result, spent, float(stats.get("usec_per_call", 0.0)))


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


def check(api: str, scenario: Scenario) -> int:
    """Fetch the scenario once, check the answer, and return the body's size."""
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
    return len(response.content)


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
        floor = runs["floor " + s.name]
        for variant in VARIANTS:
            api = runs[f"{s.name} {variant}"]
            ratio, p99_ratio = api.wrk.rate / floor.wrk.rate, api.wrk.p99_ms / floor.wrk.p99_ms
            met = ratio >= TARGET_RATIO and p99_ratio <= TARGET_P99_RATIO
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
                    "floor_rate": round(floor.wrk.rate),
                    "floor_p50_ms": round(floor.wrk.p50_ms, 3),
                    "floor_p99_ms": round(floor.wrk.p99_ms, 3),
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
                    f"{floor.wrk.rate:,.0f}",
                    ms(floor.wrk.p50_ms),
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
        "floor req/s",
        "floor p50",
        "floor p99",
        "ratio",
        "p99 ratio",
        "target",
    ]
    print(table(header, rows))
    print(f"target: ratio >= {TARGET_RATIO}, p99 ratio <= {TARGET_P99_RATIO}")
    print()
    print("CPU per request (µs) and CPU use during each run (100% = one core):")
    header = [
        "scenario",
        "cache",
        "api µs",
        "floor µs",
        "redis µs",
        "EVALSHA µs",
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
    """Record where the API spends its time under load (py-spy, if installed)."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        print("--profile: py-spy is not installed (`.venv/bin/pip install py-spy`)")
        return
    output = logs / f"api-profile-cache-{variant}.svg"
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
    print(f"profile of the API under load (page 1, cache {variant}): {output}")


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
        api_port = free_port()
        floor_port = free_port()
        while floor_port == api_port:
            floor_port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "REDIS_KEY_PREFIX": PREFIX,
            "API_HOST": "127.0.0.1",
            "API_WORKERS": str(args.workers),
            "API_READY_MAX_STALENESS_S": "0",
        }
        api_argv = [sys.executable, "-m", "api"]
        floor_argv = [sys.executable, "-m", "bench.floor", "--port", str(floor_port)]
        floor_argv += ["--workers", str(args.workers)]
        cold_port = free_port()
        while cold_port in (api_port, floor_port):
            cold_port = free_port()
        hot_env = {**env, "API_PORT": str(api_port), "API_CACHE": "1"}
        cold_env = {**env, "API_PORT": str(cold_port), "API_CACHE": "0"}
        with (
            ChildProcess("api", api_argv, logs / "api.log", env=hot_env, cwd=ROOT) as api,
            ChildProcess(
                "api-nocache", api_argv, logs / "api-nocache.log", env=cold_env, cwd=ROOT
            ) as cold,
            ChildProcess("floor", floor_argv, logs / "floor.log", cwd=ROOT) as floor,
        ):
            api_url, floor_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{floor_port}"
            cold_url = f"http://127.0.0.1:{cold_port}"
            wait_until_ok(api_url + "/readyz", api)
            wait_until_ok(cold_url + "/readyz", cold)
            wait_until_ok(floor_url + "/floor/100", floor)
            scenarios = scenarios_of(data)
            sizes = {s.name: check(api_url, s) for s in scenarios}
            for s in scenarios:
                if check(cold_url, s) != sizes[s.name]:
                    raise SystemExit(f"{s.name}: the two API processes answer differently")
            token = token_of(scenarios[0].organization_id)
            warm_up(
                [
                    (api_url + scenarios[0].path, token),
                    (cold_url + scenarios[0].path, token),
                    (floor_url + "/floor/100", ""),
                ],
                args,
            )
            assert api.pid is not None and cold.pid is not None
            assert floor.pid is not None and redis.pid is not None
            runs: dict[str, Run] = {}
            for i, s in enumerate(scenarios):
                token = token_of(s.organization_id)
                floor_path = f"/floor/{sizes[s.name]}"
                triple = [
                    (f"{s.name} on", api_url + s.path, {"server": api.pid, "redis": redis.pid}),
                    (
                        "floor " + s.name,
                        floor_url + floor_path,
                        {"server": floor.pid, "redis": redis.pid},
                    ),
                    (f"{s.name} off", cold_url + s.path, {"server": cold.pid, "redis": redis.pid}),
                ]
                for name, url, pids in triple if i % 2 else reversed(triple):
                    runs[name] = measure(url, args, token, pids)
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
        "floor: bench/floor.py (bare Starlette route, same uvicorn settings, same body size)"
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
            "target": {"ratio": TARGET_RATIO, "p99_ratio": TARGET_P99_RATIO},
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
