"""The floors: the fastest bare ASGI route, on granian or on uvicorn, returning given bytes.

    .venv/bin/python -m bench.floor --server granian --port 8001 --answers FILE
    .venv/bin/python -m bench.floor --server uvicorn --port 8002 --answers FILE

``FILE`` holds answers the API gave (``bench/api.py`` writes it after fetching
each scenario once): a JSON object of ``path -> {"headers": [[name, value],
...], "body": text}``. The floor answers ``GET <path>`` with exactly those
headers and that body, from a dict lookup and two prebuilt ASGI messages: no
routing, no parsing, no Python per request beyond the two ``send`` calls. So
the gap between an API target and its floor is what the API does per request,
and the bytes on the wire are the same (each server adds its own ``date``;
granian also its ``server: granian``, which cannot be turned off).

Both servers run with the API's settings: one worker unless told, uvloop,
httptools for uvicorn, HTTP/1 only, no access log.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from starlette.types import Message, Receive, Scope, Send

ANSWERS_ENV = "BENCH_FLOOR_ANSWERS"
SERVERS = ("granian", "uvicorn")

_NOT_FOUND: tuple[Message, Message] = (
    {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]},
    {"type": "http.response.body", "body": b""},
)


def load_answers(path: Path) -> dict[str, tuple[Message, Message]]:
    """The two ASGI messages of each path's answer, built once."""
    answers: dict[str, tuple[Message, Message]] = {}
    for target, answer in json.loads(path.read_text()).items():
        body = answer["body"].encode()
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer["headers"]]
        answers[target] = (
            {"type": "http.response.start", "status": 200, "headers": headers},
            {"type": "http.response.body", "body": body},
        )
    return answers


def create_app() -> Any:
    """The floor's ASGI app, answering what ``BENCH_FLOOR_ANSWERS`` names."""
    answers = load_answers(Path(os.environ[ANSWERS_ENV]))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        start, body = answers.get(scope["path"], _NOT_FOUND)
        await send(start)
        await send(body)

    return app


def serve(server: str, host: str, port: int, workers: int) -> None:
    if server == "granian":
        from granian import Granian
        from granian.constants import HTTPModes, Interfaces

        Granian(
            "bench.floor:create_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            http=HTTPModes.http1,
            websockets=False,
            log_access=False,
        ).serve()
    else:
        import uvicorn

        uvicorn.run(
            "bench.floor:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http="httptools",
            loop="uvloop",
            server_header=False,
            log_level="info",
            access_log=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=SERVERS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--answers", type=Path, required=True, help="JSON file of the answers")
    args = parser.parse_args()
    os.environ[ANSWERS_ENV] = str(args.answers.resolve())  # read by each worker
    serve(args.server, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
