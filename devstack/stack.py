"""``run_stack()``: the whole system on one machine, as ``python -m devstack up`` runs it.

A Tansu broker and a Redis server, embedded; ``python -m projector`` and
``python -m api`` as child processes whose output is copied to stderr with a
``[name]`` prefix; then the demo data, loaded and visible through the API.
"""

import asyncio
import json
import logging
import os
import shlex
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devstack import demo
from devstack.demo import DEMO_MEMBER, DEMO_ORGANIZATION, DEMO_TOKEN, Demo
from devstack.errors import ChildExitedError, ServiceStartError
from devstack.kafka import TansuBroker, wait_for_topics
from devstack.ports import LOOPBACK
from devstack.process import ChildProcess
from devstack.redis import RedisServer

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
HTTP_TIMEOUT = 2.0
SERVICES = ("projector", "api")

# Requests go straight to 127.0.0.1, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class StackOptions:
    log_dir: Path
    api_port: int = 8000
    kafka_port: int | None = None
    redis_port: int | None = None
    ready_timeout: float = 60.0


class Watched(Protocol):
    """A process whose death ends the stack."""

    @property
    def name(self) -> str: ...

    @property
    def returncode(self) -> int | None: ...

    def is_running(self) -> bool: ...

    def last_lines(self, count: int = 20) -> list[str]: ...


def run_stack(options: StackOptions) -> None:
    """Start everything, print how to use it, and run until a process dies or a signal comes.

    Raises ``ChildExitedError`` when a process exits on its own and
    ``ServiceStartError`` when something is not ready in time. Everything
    started is stopped on the way out, the services before the servers.
    """
    with ExitStack() as stack:
        broker = stack.enter_context(TansuBroker(options.kafka_port, log_dir=options.log_dir))
        redis = stack.enter_context(RedisServer(options.redis_port, log_dir=options.log_dir))
        env = service_environment(broker.bootstrap_servers, redis.url, options.api_port)
        children = [
            stack.enter_context(
                ChildProcess(name, [sys.executable, "-m", name], sys.stderr, env=env)
            )
            for name in SERVICES
        ]
        watched: list[Watched] = [broker, redis, *children]
        api_url = f"http://{LOOPBACK}:{options.api_port}"

        wait_until(
            lambda: http_get(f"{api_url}/readyz")[0] is not None,
            watched,
            options.ready_timeout,
            "the API to answer",
        )
        demo = load_demo(broker.bootstrap_servers, options.ready_timeout)
        wait_until(
            lambda: (
                http_get(f"{api_url}/readyz")[0] == 200
                and count_upcoming_meetings(api_url, demo) > 0
            ),
            watched,
            options.ready_timeout,
            "the API to be ready and to show the demo data",
        )
        print(banner(api_url, broker, redis, demo, options.log_dir), flush=True)
        watch(watched)


def service_environment(bootstrap_servers: str, redis_url: str, api_port: int) -> dict[str, str]:
    """The environment of the projector and the API: this one, pointed at the stack."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": "",
        "REDIS_URL": redis_url,
        "API_HOST": LOOPBACK,
        "API_PORT": str(api_port),
        # GET /demo: the "Upcoming sessions" widget on devstack.demo's organization.
        "API_DEMO_ORGANIZATION_ID": str(DEMO_ORGANIZATION),
        "API_DEMO_TOKEN": DEMO_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }


def wait_until(
    condition: Callable[[], bool], watched: Sequence[Watched], timeout: float, what: str
) -> None:
    """Poll ``condition`` until it holds; fail if a watched process dies or time runs out."""
    logger.info("waiting for %s", what)
    deadline = time.monotonic() + timeout
    while True:
        check_running(watched)
        if condition():
            return
        if time.monotonic() > deadline:
            raise ServiceStartError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(POLL_INTERVAL)


def watch(watched: Sequence[Watched]) -> None:
    """Return never; raise ``ChildExitedError`` once a watched process exits."""
    while True:
        check_running(watched)
        time.sleep(POLL_INTERVAL)


def check_running(watched: Sequence[Watched]) -> None:
    """Raise ``ChildExitedError``, with its last lines, if a watched process has exited."""
    for process in watched:
        if not process.is_running():
            last_lines = "\n".join(f"  {line}" for line in process.last_lines(10))
            raise ChildExitedError(
                f"{process.name} exited with status {process.returncode}; its last lines:\n"
                f"{last_lines}"
            )


def load_demo(bootstrap_servers: str, timeout: float) -> Demo:
    """Publish the demo events (``devstack.demo``) and return what identifies them.

    The projector creates its topics at start-up; publishing waits for them.
    """
    from events.topics import Topics

    async def publish() -> Demo:
        logger.info("waiting for the projector to create its topics")
        async with asyncio.timeout(timeout):
            await wait_for_topics(bootstrap_servers, Topics().names())
        logger.info("publishing the demo events")
        async with asyncio.timeout(timeout):
            return await demo.load_demo(bootstrap_servers=bootstrap_servers, topic_prefix="")

    try:
        return asyncio.run(publish())
    except TimeoutError as exc:
        raise ServiceStartError(
            f"gave up loading the demo data after {timeout:.0f} s (are the topics there?)"
        ) from exc


def count_upcoming_meetings(api_url: str, demo: Demo) -> int:
    """The ``total_items`` the API reports for the demo organization; 0 if it cannot say."""
    url = f"{api_url}/api/v2/organizations/{demo.organization_id}/upcoming_meetings"
    status, body = http_get(url, demo.token)
    if status != 200:
        return 0
    try:
        total = json.loads(body).get("total_items", 0)
    except (ValueError, AttributeError):
        return 0
    return total if isinstance(total, int) else 0


def http_get(url: str, token: str | None = None) -> tuple[int | None, bytes]:
    """GET ``url``; return the status and body, or ``(None, b"")`` if nothing answered."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with _http.open(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, b""
    except OSError:  # URLError, refused, reset, timed out
        return None, b""


def banner(api_url: str, broker: TansuBroker, redis: RedisServer, demo: Demo, log_dir: Path) -> str:
    meetings_url = f"{api_url}/api/v2/organizations/{demo.organization_id}/upcoming_meetings"
    member_url = (
        f"{api_url}/api/v2/organizations/{demo.organization_id}/members/{DEMO_MEMBER}"
        "/upcoming_meetings"
    )
    curl = f"curl -s -H {shlex.quote(f'Authorization: Bearer {demo.token}')}"
    return "\n".join(
        [
            "",
            "devstack is up. Ctrl-C stops everything.",
            "",
            f"  API    {api_url}  (readiness: {api_url}/readyz)",
            f"  Widget {api_url}/demo",
            f"  Kafka  {broker.bootstrap_servers}  (Tansu, in memory)",
            f"  Redis  {redis.url}",
            f"  Logs   {log_dir}",
            "",
            f"Demo organization {demo.organization_id}, token {demo.token}:",
            "",
            f"  {curl} {shlex.quote(meetings_url)}",
            f"  {curl} {shlex.quote(f'{meetings_url}?meeting_series_id={demo.meeting_series_id}')}",
            "",
            f"Member {DEMO_MEMBER}'s upcoming meetings in it:",
            "",
            f"  {curl} {shlex.quote(member_url)}",
            "",
        ]
    )
