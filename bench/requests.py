"""N requests through the API's ASGI app in process: for instruction counts.

    REDIS_URL=... REDIS_KEY_PREFIX=um .venv/bin/python -m bench.requests --requests 1000
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m bench.requests --requests 1000 --path PATH --token TOKEN

Builds the app as ``python -m api`` does (``create_app``, its lifespan), waits
until the answer cache's tracking is up, sends ``--warmup`` requests, then
``--requests`` sequential requests of ``--path`` with the bearer ``--token``
(and each ``--header``), with no server around them: what is counted is the request path in Python,
from the ASGI call to the two ``send`` messages. Exits 1 unless every answer
is a 200.

Under callgrind, counts that do not depend on the machine's load, good for
A/B comparisons on a shared machine: start it with ``--instr-atstart=no`` and
``--pause 5``, and turn instrumentation on once the warm-up is done
(``callgrind_control -i on PID`` when "warmed up" is printed); the total is
then the requests' alone. ``--cache off`` counts the miss path (one page script
per request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any


async def drive(args: argparse.Namespace) -> int:
    from api.app import create_app

    app: Any = create_app()
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, started.put))
    if (await started.get())["type"] != "lifespan.startup.complete":
        print("the lifespan failed", file=sys.stderr)
        return 1
    tracker = app.lists.tracker
    if args.cache == "on":
        deadline = time.monotonic() + 10
        while tracker is None or not tracker.healthy:
            if time.monotonic() > deadline:
                print("invalidation tracking did not come up", file=sys.stderr)
                return 1
            await asyncio.sleep(0.05)
    path, _, query = args.path.partition("?")
    headers = [
        (b"host", b"127.0.0.1"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        (b"authorization", f"Bearer {args.token}".encode()),
    ]
    for header in args.header:
        name, _, value = header.partition(":")
        headers.append((name.strip().lower().encode(), value.strip().encode("latin-1")))
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    for n in range(args.warmup + args.requests):
        if n == args.warmup and args.pause:
            print("warmed up", flush=True)
            await asyncio.sleep(args.pause)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": "GET",
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": headers,
            "state": {},
        }
        await app(scope, receive, send)
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    print(f"statuses: {statuses}")
    return 0 if set(statuses) == {200} else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--path", default="/api/v2/organizations/1/upcoming_meetings")
    parser.add_argument("--token", default="bench-token-1")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="another request header, such as X-Consistency-Token (repeatable)",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0,
        help="seconds to wait after the warm-up: time to turn on callgrind's instrumentation",
    )
    args = parser.parse_args(argv)
    os.environ["API_CACHE"] = "1" if args.cache == "on" else "0"
    os.environ.setdefault("API_READY_MAX_STALENESS_S", "0")
    return asyncio.run(drive(args))


if __name__ == "__main__":
    sys.exit(main())
