"""The ASGI application: the lists in front of FastAPI, wiring in one lifespan.

What the server runs (``Api``), from the outside in: CORS when origins are
configured (``api/widget.py``), then ``ListEndpoints`` (``api/lists.py``),
which answers the two lists itself and hands every other request to the
FastAPI app (health, metrics, the widget, the OpenAPI document, which
documents the lists from the same route table: ``api/openapi.py``). Errors
are never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.cache import AnswerCache
from api.consistency import AppliedPosition, Positions
from api.headers import Cors, NoSniff
from api.lists import ListEndpoints
from api.metrics import RequestMetrics, observe_applied, watch_cache
from api.openapi import openapi_document
from api.primaries import PrimaryWatcher
from api.ratelimit import FailureLimiter, parse_networks
from api.responses import error
from api.routes import router, unavailable
from api.settings import ApiSettings
from api.tracking import InvalidationTracker
from api.widget import cors_origins
from api.widget import router as widget_router
from events.logs import ensure_logging
from events.topics import Topics
from readmodel.applied import applied_channel
from readmodel.connections import RedisClient, connect_redis
from readmodel.errors import ReadModelUnavailable
from readmodel.keys import Control, as_text
from readmodel.positions import PositionBook
from readmodel.reader import RedisHeartbeats, RedisPageReader
from readmodel.resp import PipelinedConnection

logger = logging.getLogger(__name__)


def connect(settings: ApiSettings) -> RedisClient:
    """A client of the Redis node or cluster ``REDIS_URL`` names; a call waits for
    a free connection (per node), then errors."""
    return connect_redis(
        settings.redis,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )


def limiter_of(settings: ApiSettings, redis: RedisClient) -> FailureLimiter | None:
    if not settings.auth_failure_limit:
        return None
    return FailureLimiter(
        redis,
        settings.key_prefix,
        limit=settings.auth_failure_limit,
        window_s=settings.auth_failure_window_s,
        block_s=settings.auth_block_s,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )


def applied_position_of(settings: ApiSettings, redis: RedisClient) -> AppliedPosition:
    """The served generation's applied position, read again by its ``refresh``."""
    control = Control(settings.key_prefix)

    async def read() -> Positions:
        try:
            generation = await redis.get(control.current)
            if generation is None:
                return None, {}
            keyspace = control.keyspace(as_text(generation))
            book = PositionBook(redis, keyspace, publish=False)
            try:
                return keyspace.generation, await book.read()
            finally:
                await book.aclose()
        except RedisError as exc:
            raise ReadModelUnavailable(f"cannot read the positions: {exc}") from exc

    return AppliedPosition(Topics.with_prefix(settings.topic_prefix).names(), read)


def tracker_of(
    settings: ApiSettings,
    redis: RedisClient,
    lists: ListEndpoints,
    limiter: FailureLimiter | None,
    applied: AppliedPosition,
) -> InvalidationTracker:
    """The connection that hears of invalidations, blocks and positions.

    The cache needs client-side caching of a single Redis node: with any other
    client (a cluster) it stays off.
    """
    cache = None
    if settings.cache and isinstance(redis, Redis):
        cache = AnswerCache(settings.cache_max_entries, settings.cache_max_bytes)

    async def subscribed() -> None:
        """(Again) listening: what was missed meanwhile is read."""
        if limiter is not None:
            try:
                await limiter.load(lists.clock())
            except RedisError as exc:
                logger.warning("cannot read the blocked clients: %s", exc)
        try:
            await applied.refresh()
        except ReadModelUnavailable as exc:
            logger.warning("%s", exc)

    handlers: dict[bytes, Callable[[bytes, bytes], None]] = {
        Control(settings.key_prefix).positions_channel.encode(): (
            lambda _channel, payload: applied.on_message(payload)
        )
    }
    if limiter is not None:
        handlers[limiter.channel.encode()] = limiter.on_message
    if cache is not None:  # apply to visible, for api_apply_to_visible_seconds
        handlers[applied_channel(settings.key_prefix).encode()] = observe_applied

    def on_message(channel: bytes, payload: bytes) -> None:
        handlers[channel](channel, payload)

    return InvalidationTracker(
        settings.redis,
        settings.key_prefix,
        cache,
        settings.redis_timeout_s,
        channels=[channel.decode() for channel in handlers],
        on_message=on_message,
        on_subscribed=subscribed,
        on_generation_change=lists.generation_changed,
        on_lost=applied.forget,
    )


def primary_watcher_of(
    settings: ApiSettings, redis: RedisClient, applied: AppliedPosition
) -> PrimaryWatcher | None:
    """On a Redis Cluster, what hears of a primary that restarted or was replaced
    (the tracking connection hears of its own node only): nothing counts as
    applied until the positions are read again."""
    if not isinstance(redis, RedisCluster):
        return None

    async def back() -> None:
        try:
            await applied.refresh()
        except ReadModelUnavailable as exc:
            logger.warning("%s", exc)

    return PrimaryWatcher(settings.redis, applied.forget, back, settings.redis_timeout_s)


class Api:
    """The API as served: ``lists`` in front of ``fastapi``, within CORS if configured."""

    def __init__(self, lists: ListEndpoints, fastapi: FastAPI, served: ASGIApp) -> None:
        self.lists = lists
        self.fastapi = fastapi
        self._served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._served(scope, receive, send)

    def lifespan(self) -> AbstractAsyncContextManager[object]:
        """The app's start-up and shutdown, as the server runs them (for tests)."""
        return self.fastapi.router.lifespan_context(self.fastapi)


def create_app(settings: ApiSettings | None = None) -> Api:
    ensure_logging()  # in a worker process ``python -m api`` spawned
    settings = settings or ApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect(settings)
        # One pipelined connection for the page scripts (single node only).
        fast = None
        if isinstance(redis, Redis):
            fast = PipelinedConnection(settings.redis, settings.redis_timeout_s)
        reader = RedisPageReader(redis, settings.key_prefix, fast)
        app.state.reader = reader
        limiter = limiter_of(settings, redis)
        applied = applied_position_of(settings, redis)
        tracker = tracker_of(settings, redis, lists, limiter, applied)
        lists.attach(
            reader,
            tracker.cache,
            tracker,
            limiter,
            applied,
            max_wait_s=settings.consistency_max_wait_ms / 1000,
        )
        tracking = asyncio.create_task(tracker.run())
        primaries = primary_watcher_of(settings, redis, applied)
        watching = None if primaries is None else asyncio.create_task(primaries.run())
        app.state.heartbeats = None
        if settings.ready_max_staleness_s:
            app.state.heartbeats = RedisHeartbeats(
                redis, settings.key_prefix, settings.ready_max_staleness_s
            )
        stop = asyncio.Event()
        follower = asyncio.create_task(reader.follow(settings.generation_refresh_s, stop))
        watcher = None
        if tracker.cache is not None:
            watcher = asyncio.create_task(watch_cache(tracker.cache, tracker, stop))
        try:
            yield
        finally:
            stop.set()
            tracker.close()
            if primaries is not None:
                primaries.close()
            # Let it end by itself: cancelled while it connects to Redis (to
            # read the positions on every node), redis-py may lose a connection
            # it has just opened, unclosed.
            await asyncio.wait([tracking], timeout=2 * settings.redis_timeout_s)
            tracking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tracking
            if watching is not None:
                await asyncio.wait([watching], timeout=2 * settings.redis_timeout_s)
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            await applied.aclose()
            await follower
            if watcher is not None:
                await watcher
            if fast is not None:
                await fast.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Upcoming meetings",
        version="2",
        description="An organization's upcoming meetings, paginated and sorted by start time.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # A path with a trailing slash is not found rather than redirected: the
    # redirect's Location would echo the client's Host header.
    app.router.redirect_slashes = False
    app.include_router(router)
    app.include_router(widget_router)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """404, 405 as every other error: ``{"error": "Not Found"}``."""
        return error(exc.status_code, HTTPStatus(exc.status_code).phrase, exc.headers)

    @app.exception_handler(Exception)
    async def never_a_500(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s", request.url.path)
        return unavailable(request)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, lists.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # The lists record their own metrics; the FastAPI app's are recorded around
    # it, so that they see the 503 ``never_a_500`` answers for an unexpected
    # exception. CORS around both.
    metrics = RequestMetrics(NoSniff(app))
    lists = ListEndpoints(metrics, settings.retry_after_s, metrics)
    served: ASGIApp = lists
    origins = cors_origins(settings)
    if origins:
        served = Cors(
            lists,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Authorization", "X-Consistency-Token"],
            expose_headers=["X-Consistency-Token"],
            max_age=600,
        )
    return Api(lists, app, served)
