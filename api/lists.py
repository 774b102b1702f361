"""``ListEndpoints``: the ASGI app the server runs, the two lists answered in front.

A request for a path matching a template of ``LIST_ROUTES`` (``api/routes.py``)
is answered here, without FastAPI's routing, dependencies and response
classes: a GET with the list, any other method with 405. Every other request
(other paths, the lifespan) goes on to ``fallback``, the FastAPI app. The same
route table documents the lists in the OpenAPI document (``api/openapi.py``).
Statuses, headers and bodies are those of ``api/responses.py``, with
``X-Content-Type-Options: nosniff`` (``api/headers.py``), from header tuples
built in advance.

Per request: the checks of docs/decisions.md in order (``api/params.py``), the
client's block (``api/ratelimit.py``), then the answer cache (``api/cache.py``,
kept exact by ``api/tracking.py``) or one read of Redis (``readmodel/reader.py``).

A request with ``X-Consistency-Token`` is answered only once the read model
has applied the position it names (``api/consistency.py``,
docs/consistency.md): authentication and the 422s first, then 400 for a
malformed token, then the wait (at most ``API_CONSISTENCY_MAX_WAIT_MS``, or
less with ``Prefer: wait=<seconds>``), then 503 if it ran out. Every 200 and
304 carries the position it was answered at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.cache import AnswerCache
from api.consistency import AppliedPosition
from api.headers import NOSNIFF
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
from api.routes import LIST_ROUTES, ListRoute
from api.tracking import InvalidationTracker
from events.consistency import InvalidToken
from events.times import wall_clock_ms
from readmodel.errors import ReadModelUnavailable
from readmodel.keys import Keyspace
from readmodel.reader import Denial, RedisPageReader, token_sha256

logger = logging.getLogger(__name__)

BAD_SERIES = "Parameter meeting_series_id must be a positive integer"
BAD_MEMBER = "Parameter member_id must be a positive integer"
TOO_MANY = "Too Many Requests"
NOT_ALLOWED = "Method Not Allowed"
INVALID_TOKEN = "Invalid consistency token"

Header = tuple[bytes, bytes]
Headers = list[Header]
Answer = tuple[int, Headers, bytes]

_CONTENT_TYPE = (b"content-type", JSON.encode())
_CACHE_CONTROL = (b"cache-control", PAGE_CACHE_CONTROL.encode())
_VARY = (b"vary", b"Authorization")
_ALLOW = (b"allow", b"GET")
_TOKEN = b"x-consistency-token"
_NO_POSITION = (_TOKEN, b"")
# Authorization values whose token and hash are kept, and the longest kept: a
# client sends the same one on every request; hashing it each time would cost
# more than the rest of a cached answer's checks.
_TOKENS_KEPT = 1024
_TOKEN_KEPT_BYTES = 512


def route_path(scope: Scope) -> str:
    """The path within the app: without the ``root_path`` it is mounted at, as
    Starlette routes it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    return rest if rest == "" or rest.startswith("/") else path


def error(status: int, message: str, extra: Headers | None = None) -> Answer:
    """As ``api.responses.error``: extra headers, then length and type; then nosniff."""
    body = orjson.dumps({"error": message})
    length = (b"content-length", b"%d" % len(body))
    return status, [*(extra or []), length, _CONTENT_TYPE, NOSNIFF], body


def page(
    body: bytes, tag: bytes, condition: str | None, position: tuple[bytes, bytes], *extra: Header
) -> Answer:
    """A page: 200, or 304 when the client holds this body (``If-None-Match``);
    ``position`` is its ``X-Consistency-Token`` header."""
    if condition is not None and if_none_match(condition, tag.decode()):
        headers = [(b"etag", tag), _CACHE_CONTROL, _VARY, _CONTENT_TYPE, NOSNIFF, position]
        return 304, [*headers, *extra], b""
    length = (b"content-length", b"%d" % len(body))
    headers = [(b"etag", tag), _CACHE_CONTROL, _VARY, length, _CONTENT_TYPE, NOSNIFF, position]
    return 200, [*headers, *extra], body


@dataclass(frozen=True, slots=True)
class Reached:
    """A request's consistency token is applied in ``generation``, at ``position``
    (the answer's ``X-Consistency-Token``); ``waited`` for it, or not;
    ``headers`` to add to the answer (``Preference-Applied``)."""

    generation: str | None
    position: Header
    waited: bool
    headers: Headers


def preferred_wait_s(prefer: str) -> int | None:
    """The ``wait`` preference of a ``Prefer`` header (RFC 7240), in seconds; None
    when it names none (or a malformed one, which RFC 7240 says to ignore)."""
    for preference in prefer.replace(";", ",").split(","):
        name, _, value = preference.partition("=")
        if name.strip().lower() == "wait":
            value = value.strip().strip('"')
            return int(value) if value.isascii() and value.isdigit() else None
    return None


class ListEndpoints:
    """The ASGI app of the list endpoints; ``fallback`` answers everything else."""

    reader: RedisPageReader  # set by the lifespan, with the rest

    def __init__(
        self,
        fallback: ASGIApp,
        retry_after_s: int,
        metrics: RequestMetrics | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        routes: Sequence[ListRoute] = LIST_ROUTES,
    ) -> None:
        self.fallback = fallback
        self.metrics = metrics  # records the lists' requests; the fallback has its own
        self.clock = clock
        self.routes = tuple(routes)
        self.cache: AnswerCache | None = None
        self.tracker: InvalidationTracker | None = None
        self.limiter: FailureLimiter | None = None
        self.applied: AppliedPosition | None = None
        self.max_wait_s = 0.0
        self._tokens: dict[str, tuple[str, str]] = {}  # Authorization -> token, its SHA-256
        self._unavailable = [(b"retry-after", str(retry_after_s).encode())]

    def attach(
        self,
        reader: RedisPageReader,
        cache: AnswerCache | None = None,
        tracker: InvalidationTracker | None = None,
        limiter: FailureLimiter | None = None,
        applied: AppliedPosition | None = None,
        max_wait_s: float = 0.0,
    ) -> None:
        """What the lifespan made; the cache only with a tracker to keep it exact."""
        self.reader = reader
        self.cache = cache if tracker is not None and tracker.cache is cache else None
        self.tracker = tracker
        self.limiter = limiter
        self.applied = applied
        self.max_wait_s = max_wait_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = route_path(scope) if scope.get("root_path") else scope["path"]
            for route in self.routes:
                match = route.pattern.fullmatch(path)
                if match is not None:
                    await self._serve(scope, send, route, *match.groups())
                    return
        await self.fallback(scope, receive, send)

    async def _serve(
        self,
        scope: Scope,
        send: Send,
        route: ListRoute,
        organization: str,
        member_id: str | None = None,
    ) -> None:
        started = time.perf_counter()
        scope["route"] = route
        status = 500  # unless the response starts
        try:
            if scope["method"] == "GET":
                status, headers, body = await self.respond(scope, organization, member_id)
            else:
                status, headers, body = error(405, NOT_ALLOWED, [_ALLOW])
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
        authorization = condition = consistency = prefer = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"if-none-match":
                if condition is None:
                    condition = value.decode("latin-1")
            elif name == b"x-consistency-token":
                if consistency is None:
                    consistency = value
            elif name == b"prefer" and prefer is None:
                prefer = value.decode("latin-1")
        bearer = self._bearer(authorization)
        if bearer is None:
            return await self._denied(Denial.UNKNOWN_TOKEN, scope, now_ms)
        token, sha = bearer

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

        cache = self.cache
        epoch = None
        key = (org or 0, member, series_id, number, size)
        synced = cache is not None and org is not None and await self._synced()
        granted = synced and cache is not None and org is not None and cache.granted(org, sha)
        extra: Headers = []
        reached: Reached | None = None
        # With a 422 to give, the token is not looked at: the read below checks
        # the API token alone, and a 401 comes before the 422 there.
        if (
            consistency is not None
            and bad_parameter is None
            and not (granted and self._known_applied(consistency))
        ):
            outcome = await self._await_position(
                scope, org, token, sha, granted, consistency, prefer, now_ms, synced
            )
            if not isinstance(outcome, Reached):
                return outcome  # 401, 400 or 503
            reached = outcome
            extra = reached.headers
            if synced and reached.waited:
                synced = await self._synced()  # the invalidations up to the position reached
                granted = (
                    synced and cache is not None and org is not None and cache.granted(org, sha)
                )
            if synced and self._tracked() != reached.generation:
                synced = False  # the cache holds another generation's answers
        if synced and cache is not None and org is not None:
            if granted:
                if bad_parameter:
                    return error(422, bad_parameter)
                cached = cache.get(key, now_ms)
                if cached is not None:
                    position = self._position_of(self._tracked(), reached)
                    return page(cached.body, cached.etag, condition, position, *extra)
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
                generation=None if reached is None else reached.generation,
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
        return page(body, tag, condition, self._position_of(result.generation, reached), *extra)

    def _position_of(self, generation: str | None, reached: Reached | None) -> Header:
        """The ``X-Consistency-Token`` of an answer read from ``generation``.

        For a request with a token: the position it was reached at (the answer
        comes from that generation, or from one swapped in since, which holds
        everything it holds). Else the position applied now, if it is that
        generation's; else none, while the position follows the generation.
        """
        if reached is not None:
            return reached.position
        applied = self.applied
        if applied is None:
            return _NO_POSITION
        if applied.generation != generation:
            applied.refresh_soon()
            return _NO_POSITION
        return (_TOKEN, applied.token)

    def _tracked(self) -> str | None:
        """The generation whose answers the cache holds."""
        return None if self.tracker is None else self.tracker.generation

    def _known_applied(self, token: bytes) -> bool:
        """Whether the token is known to be applied in the generation the cache
        holds (the usual echo of an answer's token): nothing to parse, read or
        wait for, and the request is answered as one without it."""
        applied = self.applied
        return (
            applied is not None
            and applied.generation == self._tracked()
            and applied.known_covered(token)
        )

    async def _served_generation(self, synced: bool) -> str | None:
        """The generation served at some moment since the request began.

        With tracking synced, the one it tracks (``sync`` has heard of any swap
        before the request began); else read from Redis.
        """
        if synced:
            return self._tracked()
        keyspace = await self.reader.refresh()
        return None if keyspace is None else keyspace.generation

    async def _await_position(
        self,
        scope: Scope,
        org: int | None,
        token: str,
        sha: str,
        granted: bool,
        text: bytes,
        prefer: str | None,
        now_ms: int,
        synced: bool,
    ) -> Answer | Reached:
        """For a request with ``X-Consistency-Token``: its answer if it is an error,
        else how the read model reached the position.

        The position is that of a generation served since the request began
        (``_served_generation``; read again when it is not the one whose
        position is kept), so that the answer is never read from a generation
        older than one an earlier answer came from (docs/consistency.md).

        Authentication comes first (``_refused``) where this answers without
        reading the page: the 400 and the wait. A token already covered goes
        on to the page's read, which checks the API token in the same call.
        """
        applied = self.applied
        if applied is None:
            return await self._refused(scope, org, token, sha, granted, now_ms) or error(
                503, UNAVAILABLE, self._unavailable
            )
        try:
            wanted = applied.parse(text)
        except InvalidToken:
            return await self._refused(scope, org, token, sha, granted, now_ms) or error(
                400, INVALID_TOKEN
            )
        try:
            if applied.generation != await self._served_generation(synced):
                await applied.refresh()  # a swap, or Redis came back: read it again
        except ReadModelUnavailable as exc:
            logger.warning("read model unavailable: %s", exc)
            return error(503, UNAVAILABLE, self._unavailable)
        if applied.covers_token(text):
            return Reached(applied.generation, (_TOKEN, applied.token), False, [])
        refused = await self._refused(scope, org, token, sha, granted, now_ms)
        if refused is not None:
            return refused
        wait_s, honored = self.max_wait_s, []
        asked = None if prefer is None else preferred_wait_s(prefer)
        if asked is not None and asked < wait_s:
            wait_s, honored = asked, [(b"preference-applied", b"wait=%d" % asked)]
        if not await applied.reach(wanted, wait_s):
            return error(503, UNAVAILABLE, [*self._unavailable, (_TOKEN, applied.token), *honored])
        return Reached(applied.generation, (_TOKEN, applied.token), True, honored)

    async def _refused(
        self, scope: Scope, org: int | None, token: str, sha: str, granted: bool, now_ms: int
    ) -> Answer | None:
        """The answer to a request whose API token may not read the list (or a
        503), from the token check alone; None when it may."""
        if granted:
            return None
        try:
            checked = await self.reader.page(
                org, token, None, now_ms=now_ms, offset=0, limit=0, token_sha=sha
            )
        except ReadModelUnavailable as exc:
            logger.warning("read model unavailable: %s", exc)
            return error(503, UNAVAILABLE, self._unavailable)
        if isinstance(checked, Denial):
            return await self._denied(checked, scope, now_ms)
        return None

    def _bearer(self, authorization: str | None) -> tuple[str, str] | None:
        """The bearer token of ``Authorization`` and its SHA-256, or None."""
        if authorization is None:
            return None
        known = self._tokens.get(authorization)
        if known is None:
            token = bearer_token(authorization)
            if token is None:
                return None
            known = (token, token_sha256(token))
            if len(authorization) <= _TOKEN_KEPT_BYTES:
                if len(self._tokens) >= _TOKENS_KEPT:
                    self._tokens.clear()
                self._tokens[authorization] = known
        return known

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
