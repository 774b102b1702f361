"""Rebuild a realistic history while clients hammer the API; count what they got.

    .venv/bin/python -m bench.rebuild_under_load [--events 200000]

Starts an embedded broker and Redis, a projector and the API; publishes a
random history (tests/histories.py) and waits until it is projected; then runs
``python -m projector rebuild`` while 32 concurrent clients read random
organizations' lists, and prints the rebuild's time and every non-200 or
wrong answer the clients saw (a right answer is the reference model's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devstack.kafka import TansuBroker
from devstack.ports import free_port
from devstack.process import ChildProcess
from devstack.redis import RedisServer
from events.kafka import KafkaConnection
from events.models import decode_event
from events.publisher import KafkaEventPublisher
from events.times import wall_clock_ms
from events.topics import Topics
from projector.kafka.offsets import lag
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from tests.histories import random_history

TOKEN = "bench-token"
GROUP = "upcoming-meetings-projector"


async def publish(bootstrap: str, history: list[dict[str, object]]) -> None:
    models = [decode_event(json.dumps(event)) for event in history]
    async with KafkaEventPublisher(bootstrap, Topics()) as publisher:
        for start in range(0, len(models), 20_000):
            await publisher.publish_many(models[start : start + 20_000])


async def wait_caught_up(bootstrap: str) -> None:
    while await lag(KafkaConnection(bootstrap), GROUP, Topics().names()) > 0:
        await asyncio.sleep(0.5)


async def hammer(
    api: str, expected: dict[int, list[object]], stop: asyncio.Event
) -> tuple[int, list[str]]:
    served, wrong = 0, []
    organizations = list(expected)

    async def client() -> None:
        nonlocal served
        async with httpx.AsyncClient(base_url=api, timeout=10) as http:
            while not stop.is_set():
                org = random.choice(organizations)
                response = await http.get(
                    f"/api/v2/organizations/{org}/upcoming_meetings",
                    params={"items": 100},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                served += 1
                if response.status_code != 200:
                    wrong.append(f"{org}: {response.status_code} {response.text[:80]}")
                elif response.json()["meetings"] != expected[org]:
                    wrong.append(f"{org}: wrong list")

    await asyncio.gather(*(client() for _ in range(32)))
    return served, wrong


async def main(events: int) -> None:
    logs = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    history, organizations = random_history(
        random.Random(1),
        meetings=events // 20,
        events=events,
        token=TOKEN,
        earliest_start_h=1,
        link_share=0.001,
    )
    reference = InMemoryReadModel()
    reference.apply([project(decode_event(json.dumps(event))) for event in history])
    now = wall_clock_ms()
    expected = {
        org: [json.loads(doc) for doc in reference.page(org, now, 0, 100).meetings]
        for org in organizations
    }
    with TansuBroker(log_dir=logs) as broker, RedisServer(log_dir=logs) as redis:
        port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "REDIS_URL": redis.url,
            "API_PORT": str(port),
            "API_HOST": "127.0.0.1",
        }
        with (
            ChildProcess(
                "projector", [sys.executable, "-m", "projector"], logs / "projector.log", env=env
            ),
            ChildProcess("api", [sys.executable, "-m", "api"], logs / "api.log", env=env),
        ):
            started = time.monotonic()
            await publish(broker.bootstrap_servers, history)
            published = time.monotonic()
            await wait_caught_up(broker.bootstrap_servers)
            print(
                f"published {len(history):,} events in {published - started:.1f}s; "
                f"live projector caught up after {time.monotonic() - started:.1f}s"
            )

            stop = asyncio.Event()
            load = asyncio.create_task(hammer(f"http://127.0.0.1:{port}", expected, stop))
            began = time.monotonic()
            rebuild = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "projector", "rebuild"],
                env=env,
                capture_output=True,
                text=True,
            )
            took = time.monotonic() - began
            await asyncio.sleep(2)
            stop.set()
            served, wrong = await load
    print(rebuild.stdout.strip())
    print(
        f"rebuild of {len(history):,} events: {took:.1f}s wall (exit {rebuild.returncode}), "
        f"including the {5:.0f}s grace before the old generation is deleted"
    )
    print(f"API during the rebuild: {served:,} requests, {len(wrong)} non-200 or wrong")
    for line in wrong[:20]:
        print("  ", line)
    print(f"logs: {logs}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().events))
