"""The API's Prometheus metrics, recorded by a pure ASGI middleware.

    api_requests_total{route, status}   requests answered
    api_request_seconds{route}          time to answer one
    api_apply_to_visible_seconds        from a batch applied by the projector to every
        answer it changed gone from this process's answer cache (see below)
    api_answer_cache_enabled            1 when this process has an answer cache
    api_answer_cache_tracking           1 while invalidation tracking is up (the cache
        serves), 0 while it is down (every request reads Redis) or there is no cache
    api_answer_cache_entries            answers cached
    api_answer_cache_hits_total         requests the cache answered

Apply to visible: the projector publishes each applied batch's time
(``readmodel/applied.py``) and Redis delivers the batch's invalidations
before it, on the same connection; when this process reads it, every answer
the batch changed has left its cache, so ``now - applied`` is how long the
cache could still have served the old answer to a request that did not wait
for its read barrier. It includes the clock difference between the two hosts.
With the cache off (a cluster, ``API_CACHE`` off), nothing is observed:
answers are read from Redis, visible at once.

Every 5xx answer of the two lists is also logged, with its request fields
(``events/logs.py``); the other routes log their own failures.

``route`` is the matched route's template (``/api/v2/organizations/
{organization_id}/upcoming_meetings``), never the raw path, so that the
number of series stays bounded; a path no route matches is ``other``.

With several worker processes (``API_WORKERS`` > 1), ``python -m api`` sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before the workers start:
prometheus_client then keeps each process's values in files there, and
``/metrics``, whichever worker answers it, sums every process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.cache import AnswerCache
from api.tracking import InvalidationTracker
from events.logs import request_fields
from events.times import wall_clock_ms
from readmodel.applied import decode_applied

logger = logging.getLogger(__name__)

OTHER = "other"

# prometheus_client decides at import whether values live in files; so does this.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

REQUESTS = Counter("api_requests", "HTTP requests answered", ["route", "status"])
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REQUEST_SECONDS = Histogram(
    "api_request_seconds", "Time to answer an HTTP request", ["route"], buckets=SECONDS
)
APPLY_TO_VISIBLE = Histogram(
    "api_apply_to_visible_seconds",
    "From a batch applied to its answers gone from this process's cache",
    buckets=SECONDS,
)
CACHE_ENABLED = Gauge(
    "api_answer_cache_enabled",
    "1 when the answer cache is on (a single Redis node, API_CACHE on)",
    multiprocess_mode="livemax",
)
CACHE_TRACKING = Gauge(
    "api_answer_cache_tracking",
    "1 while invalidation tracking is up (the answer cache serves), else 0",
    multiprocess_mode="livemin",
)
CACHE_ENTRIES = Gauge(
    "api_answer_cache_entries", "Answers in the answer cache", multiprocess_mode="livesum"
)
CACHE_HITS = Counter("api_answer_cache_hits", "Requests the answer cache answered")


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

    def record(self, route: str, status: int, seconds: float, scope: Scope | None = None) -> None:
        """One request answered (also called by ``api/lists.py`` for its own, with
        its ``scope``: a 5xx is then logged)."""
        if status >= 500 and scope is not None:
            fields = request_fields(scope.get("method", ""), scope.get("path", ""), status, seconds)
            logger.warning(
                "answered %d to %s %s", status, fields["method"], fields["path"], extra=fields
            )
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


def observe_applied(channel: bytes, payload: bytes) -> None:
    """An announcement of an applied batch, read after its invalidations."""
    applied_ms = decode_applied(payload)
    if applied_ms is not None:
        APPLY_TO_VISIBLE.observe(max(wall_clock_ms() - applied_ms, 0) / 1000)


async def watch_cache(
    cache: AnswerCache, tracker: InvalidationTracker, stop: asyncio.Event, interval_s: float = 1.0
) -> None:
    """Copy the cache's state into its gauges and counter until ``stop``.

    Read every ``interval_s`` rather than on every request: a hit costs nothing
    more.
    """
    counted = cache.hits
    CACHE_ENABLED.set(1)
    while not stop.is_set():
        CACHE_TRACKING.set(1 if tracker.healthy else 0)
        CACHE_ENTRIES.set(len(cache))
        hits = cache.hits
        if hits > counted:
            CACHE_HITS.inc(hits - counted)
        counted = hits
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
