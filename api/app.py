"""The ASGI application: wiring in one lifespan, errors never a 500."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from api.cache import AnswerCache
from api.hot import HotRoutes
from api.metrics import RequestMetrics
from api.ratelimit import FailureLimiter, parse_networks
from api.responses import error
from api.routes import router, unavailable
from api.settings import ApiSettings
from api.tracking import InvalidationTracker
from api.widget import cors_origins
from api.widget import router as widget_router
from readmodel.connections import RedisClient, connect_redis
from readmodel.reader import RedisHeartbeats, RedisPageReader
from readmodel.resp import PipelinedConnection

logger = logging.getLogger(__name__)


def connect(settings: ApiSettings) -> RedisClient:
    """A client of the Redis node or cluster ``REDIS_URL`` names; a call waits for
    a free connection (per node), then errors."""
    return connect_redis(
        settings.redis_url,
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


def tracker_of(
    settings: ApiSettings, redis: RedisClient, hot: HotRoutes, limiter: FailureLimiter | None
) -> InvalidationTracker | None:
    """The invalidation and blocks connection, if the cache or the limiter needs one.

    The cache needs client-side caching of a single Redis node: with any other
    client (a cluster) it stays off.
    """
    cache = None
    if settings.cache and isinstance(redis, Redis):
        cache = AnswerCache(settings.cache_max_entries, settings.cache_max_bytes)
    if cache is None and limiter is None:
        return None

    async def load_blocks() -> None:
        if limiter is not None:
            try:
                await limiter.load(hot.clock())
            except RedisError as exc:
                logger.warning("cannot read the blocked clients: %s", exc)

    return InvalidationTracker(
        settings.redis_url,
        settings.key_prefix,
        cache,
        settings.redis_timeout_s,
        channels=[limiter.channel] if limiter is not None else [],
        on_message=limiter.on_message if limiter is not None else None,
        on_subscribed=load_blocks,
        on_generation_change=hot.generation_changed,
    )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    hot = HotRoutes(settings.retry_after_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect(settings)
        # One pipelined connection for the page scripts (single node only).
        fast = None
        if isinstance(redis, Redis):
            fast = PipelinedConnection(settings.redis_url, settings.redis_timeout_s)
        reader = RedisPageReader(redis, settings.key_prefix, fast)
        app.state.reader = reader
        limiter = limiter_of(settings, redis)
        tracker = tracker_of(settings, redis, hot, limiter)
        hot.attach(reader, tracker.cache if tracker else None, tracker, limiter)
        tracking = asyncio.create_task(tracker.run()) if tracker is not None else None
        app.state.heartbeats = None
        if settings.ready_max_staleness_s:
            app.state.heartbeats = RedisHeartbeats(
                redis, settings.key_prefix, settings.ready_max_staleness_s
            )
        stop = asyncio.Event()
        follower = asyncio.create_task(reader.follow(settings.generation_refresh_s, stop))
        try:
            yield
        finally:
            stop.set()
            if tracker is not None and tracking is not None:
                tracker.close()
                tracking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tracking
            await follower
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
    app.state.hot = hot
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
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer"}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # The two list endpoints go straight to ``hot``, which records their metrics
    # itself; the rest to FastAPI's own stack, metrics around Starlette's own
    # error middleware (they see the 503 that ``never_a_500`` answers for an
    # unexpected exception). CORS around both.
    build_stack = app.build_middleware_stack
    origins = cors_origins(settings)

    def build_middleware_stack() -> ASGIApp:
        hot.fallback = hot.metrics = RequestMetrics(build_stack())
        served: ASGIApp = hot
        if origins:
            served = CORSMiddleware(
                served,
                allow_origins=origins,
                allow_methods=["GET"],
                allow_headers=["Authorization"],
                max_age=600,
            )
        return served

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return app
