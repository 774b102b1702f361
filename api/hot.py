"""The two list endpoints as plain ASGI, in front of FastAPI.

``GET /api/v2/organizations/{organization_id}/upcoming_meetings`` and
``GET .../members/{member_id}/upcoming_meetings`` are answered here, without
FastAPI's routing, dependencies and response classes; every other request
(other paths, other methods) goes on to the FastAPI app, which also keeps the
two routes for its OpenAPI document (``api/routes.py``). Statuses, headers
and bodies are exactly those of ``api/responses.py``, in the same order.

Per request: the checks of docs/decisions.md in order (``api/params.py``), the
client's block (``api/ratelimit.py``), then the answer cache (``api/cache.py``,
kept exact by ``api/tracking.py``) or one read of Redis (``readmodel/reader.py``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.cache import AnswerCache
from api.metrics import RequestMetrics
from api.params import bearer_token, page_number, page_size, positive_int
from api.ratelimit import FailureLimiter
from api.responses import (
    JSON,
    PAGE_CACHE_CONTROL,
    UNAVAILABLE,
    entity_tag,
    if_none_match,
    page_body,
)
from api.tracking import InvalidationTracker
from events.times import wall_clock_ms
from readmodel.errors import ReadModelUnavailable
from readmodel.keys import Keyspace
from readmodel.reader import Denial, RedisPageReader, token_sha256

logger = logging.getLogger(__name__)

ORGANIZATION_ROUTE = "/api/v2/organizations/{organization_id}/upcoming_meetings"
MEMBER_ROUTE = "/api/v2/organizations/{organization_id}/members/{member_id}/upcoming_meetings"
_ORGANIZATION_PATH = re.compile(r"/api/v2/organizations/([^/]+)/upcoming_meetings")
_MEMBER_PATH = re.compile(r"/api/v2/organizations/([^/]+)/members/([^/]+)/upcoming_meetings")

BAD_SERIES = "Parameter meeting_series_id must be a positive integer"
BAD_MEMBER = "Parameter member_id must be a positive integer"
TOO_MANY = "Too Many Requests"

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]

_CONTENT_TYPE = (b"content-type", JSON.encode())
_CACHE_CONTROL = (b"cache-control", PAGE_CACHE_CONTROL.encode())
_VARY = (b"vary", b"Authorization")


@dataclass(frozen=True, slots=True)
class Route:
    """What ``api/metrics.py`` reads from ``scope["route"]``."""

    path: str


_ORGANIZATION = Route(ORGANIZATION_ROUTE)
_MEMBER = Route(MEMBER_ROUTE)


def error(status: int, message: str, extra: Headers | None = None) -> Answer:
    """As ``api.responses.error``: extra headers, then length and type."""
    body = orjson.dumps({"error": message})
    headers = [*(extra or []), (b"content-length", b"%d" % len(body)), _CONTENT_TYPE]
    return status, headers, body


def page(body: bytes, tag: bytes, condition: str | None) -> Answer:
    """200 with the page, or 304 Not Modified when the client already holds this body."""
    if condition is not None and if_none_match(condition, tag.decode()):
        return 304, [(b"etag", tag), _CACHE_CONTROL, _VARY, _CONTENT_TYPE], b""
    length = (b"content-length", b"%d" % len(body))
    return 200, [(b"etag", tag), _CACHE_CONTROL, _VARY, length, _CONTENT_TYPE], body


class HotRoutes:
    """The ASGI app of the two endpoints; ``fallback`` answers everything else."""

    fallback: ASGIApp  # set when the FastAPI app builds its middleware stack
    reader: RedisPageReader  # set by the lifespan, with the rest

    def __init__(
        self,
        retry_after_s: int,
        metrics: RequestMetrics | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.metrics = metrics  # records the two lists' requests; the fallback has its own
        self.clock = clock
        self.cache: AnswerCache | None = None
        self.tracker: InvalidationTracker | None = None
        self.limiter: FailureLimiter | None = None
        self._unavailable = [(b"retry-after", str(retry_after_s).encode())]

    def attach(
        self,
        reader: RedisPageReader,
        cache: AnswerCache | None = None,
        tracker: InvalidationTracker | None = None,
        limiter: FailureLimiter | None = None,
    ) -> None:
        """What the lifespan made; the cache only with a tracker to keep it exact."""
        self.reader = reader
        self.cache = cache if tracker is not None and tracker.cache is cache else None
        self.tracker = tracker
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path = scope["path"]
            if path.endswith("/upcoming_meetings"):
                match = _ORGANIZATION_PATH.fullmatch(path)
                if match is not None:
                    await self._serve(scope, send, _ORGANIZATION, match.group(1), None)
                    return
                match = _MEMBER_PATH.fullmatch(path)
                if match is not None:
                    await self._serve(scope, send, _MEMBER, match.group(1), match.group(2))
                    return
        await self.fallback(scope, receive, send)

    async def _serve(
        self, scope: Scope, send: Send, route: Route, organization: str, member_id: str | None
    ) -> None:
        started = time.perf_counter()
        scope["route"] = route
        status = 500  # unless the response starts
        try:
            status, headers, body = await self.respond(scope, organization, member_id)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            if self.metrics is not None:
                self.metrics.record(route.path, status, time.perf_counter() - started, scope)

    async def respond(self, scope: Scope, organization: str, member_id: str | None) -> Answer:
        """The answer; never raises (an unexpected error is a 503, as elsewhere)."""
        try:
            return await self._respond(scope, organization, member_id)
        except Exception:
            logger.exception("unexpected error on %s", scope.get("path"))
            return error(503, UNAVAILABLE, self._unavailable)

    async def _respond(self, scope: Scope, organization: str, member_id: str | None) -> Answer:
        now_ms = self.clock()
        limiter = self.limiter
        if limiter is not None and limiter.blocks:
            retry_after = limiter.retry_after_s(limiter.client_of(scope), now_ms)
            if retry_after is not None:
                return error(429, TOO_MANY, [(b"retry-after", b"%d" % retry_after)])
        authorization = condition = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"if-none-match" and condition is None:
                condition = value.decode("latin-1")
        token = bearer_token(authorization)
        if token is None:
            return await self._denied(Denial.UNKNOWN_TOKEN, scope, now_ms)

        query = scope["query_string"]
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
        series_text = params.get("meeting_series_id")
        member = None if member_id is None else positive_int(member_id)
        series_id = None if series_text is None else positive_int(series_text)
        bad_parameter = (
            BAD_MEMBER
            if member_id is not None and member is None
            else BAD_SERIES
            if series_text is not None and series_id is None
            else None
        )
        size, number = page_size(params.get("items")), page_number(params.get("page"))
        org = positive_int(organization)
        sha = token_sha256(token)

        cache = self.cache
        epoch = None
        key = (org or 0, member, series_id, number, size)
        if cache is not None and org is not None and await self._synced():
            if cache.granted(org, sha):
                if bad_parameter:
                    return error(422, bad_parameter)
                cached = cache.get(key, now_ms)
                if cached is not None:
                    return page(cached.body, cached.etag, condition)
            epoch = cache.epoch(org)

        try:
            result = await self.reader.page(
                org,
                token,
                series_id,
                now_ms=now_ms,
                offset=(number - 1) * size,
                limit=0 if bad_parameter else size,  # only the token check
                member_id=member,
                token_sha=sha,
            )
        except ReadModelUnavailable as exc:
            logger.warning("read model unavailable: %s", exc)
            return error(503, UNAVAILABLE, self._unavailable)
        if isinstance(result, Denial):
            return await self._denied(result, scope, now_ms)
        if epoch is not None and cache is not None and org is not None:
            cache.grant(org, sha, epoch)
        if bad_parameter:
            return error(422, bad_parameter)
        body = page_body(number, size, result.total_items, result.meetings)
        tag = entity_tag(body).encode()
        if epoch is not None and cache is not None:
            cache.put(key, body, tag, now_ms, result.next_end_ms, epoch)
        return page(body, tag, condition)

    async def _synced(self) -> bool:
        """Whether the cache may answer: tracking is up and has caught up with now."""
        tracker = self.tracker
        if tracker is None or not await tracker.sync() or tracker.generation is None:
            return False
        keyspace = self.reader.keyspace
        if keyspace is None or keyspace.generation != tracker.generation:
            # The tracker has just seen (and verified) the generation served now.
            self.reader.keyspace = Keyspace(self.reader.prefix, tracker.generation)
        return True

    def generation_changed(self) -> None:
        """``<prefix>:current`` was written: read it again before the next page."""
        self.reader.keyspace = None

    async def _denied(self, denial: Denial, scope: Scope, now_ms: int) -> Answer:
        if self.limiter is not None:
            await self.limiter.failed(self.limiter.client_of(scope), now_ms)
        return error(401, denial.value)
