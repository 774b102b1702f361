"""The floor: a bare Starlette route on uvicorn that returns fixed bytes.

    .venv/bin/python -m bench.floor --port 8001

``GET /floor/<size>`` answers a JSON body of exactly ``size`` bytes (built
once per size) with the headers a page of the endpoint carries
(``Content-Type: application/json``, a strong ``ETag``, ``Cache-Control``,
``Vary``). It is served by ``uvicorn.run`` with the same settings as
``python -m api`` (one worker unless told, loop and HTTP parser left to "auto", which picks
uvloop and httptools when installed, no access log), so the gap between the two
is what the endpoint does per request: FastAPI's routing and parameters, the
token check and page read in Redis, the ETag.
"""

from __future__ import annotations

import argparse
import functools

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HEADERS = {
    "ETag": '"' + "0" * 32 + '"',
    "Cache-Control": "private, no-cache",
    "Vary": "Authorization",
}


@functools.lru_cache(maxsize=64)
def fixed_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (at least 10)."""
    shell = b'{"pad":""}'
    return shell[:-2] + b"x" * max(0, size - len(shell)) + shell[-2:]


async def floor(request: Request) -> Response:
    body = fixed_body(request.path_params["size"])
    return Response(body, media_type="application/json", headers=HEADERS)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/floor/{size:int}", floor)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.floor:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
