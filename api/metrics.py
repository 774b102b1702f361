"""The API's Prometheus metrics, recorded by a pure ASGI middleware.

    api_requests_total{route, status}   requests answered
    api_request_seconds{route}          time to answer one

``route`` is the matched route's template (``/api/v2/organizations/
{organization_id}/upcoming_meetings``), never the raw path, so that the
number of series stays bounded; a path no route matches is ``other``.

With several worker processes (``API_WORKERS`` > 1), ``python -m api`` sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before the workers start:
prometheus_client then keeps each process's values in files there, and
``/metrics``, whichever worker answers it, sums every process's.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER = "other"

# prometheus_client decides at import whether values live in files; so does this.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

REQUESTS = Counter("api_requests", "HTTP requests answered", ["route", "status"])
REQUEST_SECONDS = Histogram(
    "api_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def route_label(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that handled the request, or ``other``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else OTHER


class RequestMetrics:
    """Counts and times every HTTP request; anything else passes straight through.

    The labelled children are looked up once per (route, status) and kept: a
    request costs one dictionary lookup, one increment and one observation.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.record(route_label(scope), status, time.perf_counter() - started)

    def record(self, route: str, status: int, seconds: float) -> None:
        """One request answered (also called by ``api/hot.py`` for its own)."""
        children = self._children.get((route, status))
        if children is None:
            children = self._children[route, status] = (
                REQUESTS.labels(route, str(status)),
                REQUEST_SECONDS.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)


def metrics_response() -> Response:
    """The text exposition of this process's metrics, or of every worker's."""
    if MULTIPROCESS_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
