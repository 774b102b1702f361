"""The system as a user runs it: ``python -m projector`` and ``python -m api`` as
processes, events published to the broker, answers read over HTTP. Tests get
one from the ``system`` fixture (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devstack.ports import free_port
from devstack.process import ChildProcess
from events.kafka import KafkaConnection
from events.models import decode_event
from events.publisher import KafkaEventPublisher
from events.topics import Topics
from projector.kafka.offsets import lag

REPO = Path(__file__).resolve().parents[1]

_TLS = ssl.create_default_context()
"""Given to every one-off httpx request: without one, httpx builds a context
for each (loading the CA bundle, some 50 ms), though ours are plain HTTP."""


@dataclass
class System:
    bootstrap_servers: str
    redis_url: str
    namespace: str
    log_dir: Path
    api_port: int = field(default_factory=free_port)
    processes: list[ChildProcess] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(f"{self.namespace}.")

    @property
    def group_id(self) -> str:
        return f"{self.namespace}-projector"

    @property
    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "REDIS_URL": self.redis_url,
            "KAFKA_TOPIC_PREFIX": f"{self.namespace}.",
            "REDIS_KEY_PREFIX": self.namespace,
            "PROJECTOR_GROUP_ID": self.group_id,
            "PROJECTOR_PRUNE_INTERVAL_S": "1",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.api_port),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, module: str, *args: str, name: str | None = None, **env: str) -> ChildProcess:
        name = name or module
        process = ChildProcess(
            name,
            [sys.executable, "-m", module, *args],
            self.log_dir / f"{name}.log",
            env={**self.environment, **env},
            cwd=REPO,
        )
        process.start()
        self.processes.append(process)
        return process

    def start_api(self) -> ChildProcess:
        process = self.start("api")
        self.wait_for(lambda: self.get("/readyz").status_code == 200, "the API to be ready")
        return process

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return httpx.get(
                f"http://127.0.0.1:{self.api_port}{path}",
                headers=headers,
                params=params,
                timeout=5,
                verify=_TLS,
            )
        except httpx.TransportError:
            return httpx.Response(599)

    def upcoming(self, organization_id: int, token: str, **params: Any) -> dict[str, Any]:
        response = self.get(
            f"/api/v2/organizations/{organization_id}/upcoming_meetings", token, **params
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_for(self, condition: Any, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            for process in self.processes:
                if process.returncode not in (None, 0, -9, -15):
                    pytest.fail(f"{process.name} exited: {process.last_lines()}")
            if time.monotonic() > deadline:
                logs = {
                    p.name: (self.log_dir / f"{p.name}.log").read_text()[-3000:]
                    for p in self.processes
                }
                pytest.fail(f"timed out waiting for {what}; logs: {logs}")
            time.sleep(0.2)

    async def publish(self, events: Sequence[dict[str, Any]]) -> str:
        """Publish ``events``; their consistency token."""
        models = [decode_event(json.dumps(event)) for event in events]
        async with KafkaEventPublisher(self.bootstrap_servers, self.topics) as publisher:
            return await publisher.publish_many(models)

    async def publish_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    async def wait_for_topics(self, timeout_s: float = 60) -> None:
        """Until the topics exist: a projector creates them as it starts, so
        events can be published while it joins its group."""
        deadline = time.monotonic() + timeout_s
        admin = AIOKafkaAdminClient(**KafkaConnection(self.bootstrap_servers).client_options())
        await admin.start()
        try:
            while not set(self.topics.names()) <= set(await admin.list_topics()):
                if time.monotonic() > deadline:
                    pytest.fail("the projector did not create the topics")
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    async def wait_caught_up(self, timeout_s: float = 90) -> None:
        """Until the projector group has committed every record of the topics."""
        deadline = time.monotonic() + timeout_s
        while (
            await lag(KafkaConnection(self.bootstrap_servers), self.group_id, self.topics.names())
            > 0
        ):
            if time.monotonic() > deadline:
                pytest.fail("the projector did not catch up")
            await asyncio.sleep(0.3)

    def run(self, module: str, *args: str, timeout_s: float = 120, **env: str) -> tuple[int, str]:
        """Run a command to its end; its exit status and output."""
        name = f"{module}-{'-'.join(args)}-{len(self.processes)}"
        process = ChildProcess(
            name,
            [sys.executable, "-m", module, *args],
            self.log_dir / f"{name}.log",
            env={**self.environment, **env},
            cwd=REPO,
        )
        process.start()
        deadline = time.monotonic() + timeout_s
        while process.returncode is None:
            if time.monotonic() > deadline:
                process.stop()
                pytest.fail(f"{name} did not finish: {process.last_lines()}")
            time.sleep(0.1)
        return process.returncode, (self.log_dir / f"{name}.log").read_text()

    async def projector(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``python -m projector ARGS`` as a user runs it, in this namespace."""
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "projector", *args],
            env={**self.environment, **env},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
