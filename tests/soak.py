"""Soak: publisher, projector and API under steady load, checked against a reference.

    python -m tests.soak [--minutes 10] [--events-per-round 500] [--readers 4]
    scripts/soak [--minutes N]

Runs on private servers (an embedded Tansu broker and a Redis server of its
own, so Redis's memory is this run's alone), starts ``python -m projector`` and
``python -m api`` as processes, and then, round after round until the time is
up:

1. publishes a round of new events (fresh meetings, updates, registrations,
   cancellations, EAP links) at a steady rate, while reader threads keep
   requesting every organization's list from the API;
2. waits for the projector to catch up, and compares every page of every
   organization's list, the whole list and each series, with the in-memory
   reference model that has applied every event published so far.

It prints a line per round and, at the end, the events published and applied,
the requests served (and how many were not 200), the mismatches (must be 0),
and memory at the first and the last round: RSS of the projector and API
processes and Redis's ``used_memory``. Exit status 0 only with no mismatch and
no answer other than 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from devstack.kafka import TansuBroker
from devstack.redis import RedisServer
from events.models import decode_event
from events.times import wall_clock_ms
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from tests.builders import token_issued
from tests.histories import SERIES, random_history
from tests.system import System

TOKEN = "soak-token"
ORGANIZATIONS = [1, 2, 3, 900, 901]


def round_events(number: int, events: int, meetings: int) -> list[dict[str, Any]]:
    """A round's events: a random history of meetings and registrations no earlier
    round used (ids moved up by the round number), none ending within the hour."""
    history, _ = random_history(
        random.Random(number), meetings=meetings, events=events, token=TOKEN, earliest_start_h=1
    )
    for event in history:
        data = event["data"]
        if "meeting_id" in data:
            data["meeting_id"] += number * 100_000
        if "registration_id" in data:
            data["registration_id"] += number * 10_000_000
    return history


def rss_kib(pid: int | None) -> int:
    """A process's resident set size in KiB (0 when it is gone)."""
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Readers:
    """Threads that request lists from the API without pause, counting answers."""

    port: int
    threads: int
    served: int = 0
    not_ok: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.threads):
            thread = threading.Thread(target=self._read, args=(number,), daemon=True)
            thread.start()
            self._running.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._running:
            thread.join(10)

    def _read(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            while not self._stop.is_set():
                org = rng.choice(ORGANIZATIONS)
                params: dict[str, Any] = {"page": rng.randint(1, 3), "items": rng.choice([5, 20])}
                if rng.random() < 0.3:
                    params["meeting_series_id"] = rng.choice([s for s in SERIES if s])
                try:
                    status = client.get(
                        f"/api/v2/organizations/{org}/upcoming_meetings",
                        params=params,
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    ).status_code
                except httpx.TransportError:
                    status = 599
                with self._lock:
                    self.served += 1
                    if status != 200:
                        self.not_ok[status] = self.not_ok.get(status, 0) + 1


def compare(system: System, reference: InMemoryReadModel) -> list[str]:
    """Every page of every organization's list (whole, and per series) against the reference."""
    mismatches: list[str] = []
    for org in ORGANIZATIONS:
        for series in [None, *(s for s in SERIES if s)]:
            page = 1
            while True:
                params: dict[str, Any] = {"page": page, "items": 100}
                if series is not None:
                    params["meeting_series_id"] = series
                response = system.get(
                    f"/api/v2/organizations/{org}/upcoming_meetings", TOKEN, **params
                )
                now = wall_clock_ms()
                expected = reference.page(org, now, (page - 1) * 100, 100, series_id=series)
                where = f"organization {org} series {series} page {page}"
                if response.status_code != 200:
                    mismatches.append(f"{where}: {response.status_code} {response.text[:200]}")
                    break
                body = response.json()
                if body["total_items"] != expected.total_items:
                    mismatches.append(
                        f"{where}: total_items {body['total_items']}, "
                        f"expected {expected.total_items}"
                    )
                if body["meetings"] != [json.loads(doc) for doc in expected.meetings]:
                    mismatches.append(f"{where}: the meetings differ")
                if page * 100 >= expected.total_items:
                    break
                page += 1
    return mismatches


async def events_applied(redis_url: str, prefix: str) -> int:
    """What the projector workers' heartbeats say they applied, summed."""
    redis = Redis.from_url(redis_url)
    try:
        beats = await redis.hgetall(f"{prefix}:heartbeats")
    finally:
        await redis.aclose()
    return sum(int(json.loads(raw)["events_applied"]) for raw in beats.values())


async def redis_used_memory(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return int((await redis.info("memory"))["used_memory"])
    finally:
        await redis.aclose()


async def soak(minutes: float, per_round: int, readers: int, log_dir: Path) -> int:
    with TansuBroker(log_dir=log_dir) as broker, RedisServer(log_dir=log_dir) as redis:
        system = System(broker.bootstrap_servers, redis.url, "soak", log_dir)
        try:
            return await run_rounds(system, minutes, per_round, readers)
        finally:
            system.stop()


async def run_rounds(system: System, minutes: float, per_round: int, readers: int) -> int:
    projector = system.start("projector", PROJECTOR_HEARTBEAT_S="1", PROJECTOR_METRICS_PORT="0")
    api = system.start_api()
    reference = InMemoryReadModel()
    tokens = [token_issued(organization_id=org, token=TOKEN) for org in ORGANIZATIONS]
    await system.publish(tokens)
    reference.apply([project(decode_event(json.dumps(event))) for event in tokens])
    await system.wait_caught_up()
    load = Readers(system.api_port, readers)
    load.start()
    published = len(tokens)
    mismatches = 0
    first: tuple[int, int, int] | None = None
    started = time.monotonic()
    deadline = started + minutes * 60
    number = 0
    try:
        while number == 0 or time.monotonic() < deadline:
            number += 1
            events = round_events(number, per_round, meetings=max(per_round // 10, 1))
            for start in range(0, len(events), 100):  # steady: about 300 events/s
                await system.publish(events[start : start + 100])
                await asyncio.sleep(0.3)
            published += len(events)
            reference.apply([project(decode_event(json.dumps(event))) for event in events])
            await system.wait_caught_up(timeout_s=300)
            found = await asyncio.to_thread(compare, system, reference)
            mismatches += len(found)
            for line in found[:10]:
                print(f"  MISMATCH {line}", flush=True)
            memory = (
                rss_kib(projector.pid),
                rss_kib(api.pid),
                await redis_used_memory(system.redis_url),
            )
            first = first or memory
            print(
                f"round {number}: {published:,} events published, {load.served:,} requests "
                f"served, {mismatches} mismatches; RSS projector {memory[0]:,} KiB, "
                f"API {memory[1]:,} KiB, Redis used_memory {memory[2]:,} B "
                f"({time.monotonic() - started:.0f}s)",
                flush=True,
            )
    finally:
        load.stop()
    applied = await events_applied(system.redis_url, system.namespace)
    assert first is not None
    last = (rss_kib(projector.pid), rss_kib(api.pid), await redis_used_memory(system.redis_url))
    not_ok = sum(load.not_ok.values())
    print(f"soak over {time.monotonic() - started:.0f}s, {number} rounds")
    print(f"events published: {published:,}; applied (projector heartbeats): {applied:,}")
    print(f"requests served: {load.served:,}; not 200: {not_ok} {load.not_ok or ''}")
    print(f"mismatches: {mismatches}")
    for name, unit, a, b in (
        ("projector RSS", "KiB", first[0], last[0]),
        ("API RSS", "KiB", first[1], last[1]),
        ("Redis used_memory", "B", first[2], last[2]),
    ):
        print(f"memory {name}: {a:,} {unit} after round 1, {b:,} {unit} at the end ({b - a:+,})")
    return 0 if mismatches == 0 and not_ok == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--events-per-round", type=int, default=500)
    parser.add_argument("--readers", type=int, default=4, help="API reader threads")
    parser.add_argument("--log-dir", type=Path, help="the processes' logs (default: a temp dir)")
    args = parser.parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"logs in {log_dir}", flush=True)
    return asyncio.run(soak(args.minutes, args.events_per_round, args.readers, log_dir))


if __name__ == "__main__":
    raise SystemExit(main())
