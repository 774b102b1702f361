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
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from api.metrics import RequestMetrics
from api.responses import error
from api.routes import router, unavailable
from api.settings import ApiSettings
from api.store import RedisHeartbeats, RedisPageReader
from api.widget import cors_origins
from api.widget import router as widget_router
from projector.connections import RedisClient, connect_redis

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


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect(settings)
        reader = RedisPageReader(redis, settings.key_prefix)
        app.state.reader = reader
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
            await follower
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
    if origins := cors_origins(settings):
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            max_age=600,
        )

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

    # Outermost, around Starlette's own error middleware: it sees the 503
    # that ``never_a_500`` answers for an unexpected exception.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestMetrics(build_stack())  # type: ignore[method-assign]
    return app
