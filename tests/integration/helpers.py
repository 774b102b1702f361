"""Read models behind one small interface, for the contract suite and the laws.

``MemoryModel`` and ``RedisModel`` both take changes with ``apply`` and answer
``page`` (total_items and the meeting documents, parsed) and ``access`` (what
a token may read). ``RedisModel`` reads the way the API does, through
``RedisPageReader`` with a token it issued itself.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from api.app import create_app
from api.settings import ApiSettings
from events.models import decode_event
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from readmodel.changes import Change, IssueToken
from readmodel.keys import Keyspace
from readmodel.reader import Denial, RedisPageReader
from readmodel.writer import RedisReadModel
from tests.builders import Event, encode, sha256_hex

READER_TOKEN = "contract-suite-reader"
"""Issued by ``RedisModel`` to each organization it reads; never in a history."""

ALLOWED = "allowed"


def changes_of(events: Iterable[Event]) -> list[Change]:
    """The changes the projector makes of events, decoded as it decodes them."""
    return [project(decode_event(encode(event))) for event in events]


def fresh_prefix() -> str:
    """A key prefix of its own, for each hypothesis example."""
    return f"t{secrets.token_hex(6)}"


def parse_documents(joined: bytes) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = orjson.loads(b"[" + joined + b"]")
    return documents


class ReadModel(Protocol):
    async def apply(self, changes: Sequence[Change]) -> None: ...

    async def page(
        self,
        org: int,
        now_ms: int,
        offset: int = 0,
        limit: int = 100,
        series: int | None = None,
        member: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]: ...

    async def access(self, org: int, token: str) -> str: ...


class MemoryModel:
    def __init__(self) -> None:
        self.model = InMemoryReadModel()

    async def apply(self, changes: Sequence[Change]) -> None:
        self.model.apply(changes)

    async def page(
        self,
        org: int,
        now_ms: int,
        offset: int = 0,
        limit: int = 100,
        series: int | None = None,
        member: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        page = self.model.page(org, now_ms, offset, limit, series, member)
        return page.total_items, parse_documents(b",".join(page.meetings))

    async def access(self, org: int, token: str) -> str:
        organizations = self.model.token_organizations(sha256_hex(token))
        if org in organizations:
            return ALLOWED
        if organizations:
            return Denial.OTHER_ORGANIZATION.value
        return Denial.UNKNOWN_TOKEN.value


class RedisModel:
    """One generation of the read model in Redis, served as ``<prefix>:current``."""

    def __init__(self, redis: Redis, prefix: str, store: RedisReadModel | None = None) -> None:
        self.redis = redis
        self.keyspace = Keyspace(prefix, "1")
        self.store = store or RedisReadModel(redis, self.keyspace)
        self.reader = RedisPageReader(redis, prefix)
        self._readable: set[int] = set()

    async def serve(self) -> RedisModel:
        await self.redis.set(self.keyspace.current, self.keyspace.generation)
        return self

    async def apply(self, changes: Sequence[Change]) -> None:
        await self.store.apply(changes)

    async def page(
        self,
        org: int,
        now_ms: int,
        offset: int = 0,
        limit: int = 100,
        series: int | None = None,
        member: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        if org not in self._readable:
            await self.store.apply([IssueToken(org, sha256_hex(READER_TOKEN))])
            self._readable.add(org)
        page = await self.reader.page(org, READER_TOKEN, series, now_ms, offset, limit, member)
        assert not isinstance(page, Denial), page
        return page.total_items, parse_documents(page.meetings)

    async def access(self, org: int, token: str) -> str:
        page = await self.reader.page(org, token, None, 0, 0, 0)
        return page.value if isinstance(page, Denial) else ALLOWED


async def ids(model: ReadModel, org: int, now_ms: int, series: int | None = None) -> list[int]:
    """The ids of the organization's whole list, in order."""
    _total, meetings = await model.page(org, now_ms, series=series)
    return [meeting["id"] for meeting in meetings]


async def attendees(model: ReadModel, org: int, now_ms: int) -> dict[int, int]:
    """registered_attendees of each meeting of the organization's list."""
    _total, meetings = await model.page(org, now_ms)
    return {meeting["id"]: meeting["registered_attendees"] for meeting in meetings}


class PipelineHook:
    """A real Redis client that runs ``hook`` before its ``nth`` pipeline executes.

    ``RedisReadModel.apply`` runs one pipeline per step, so this stalls a worker
    between two steps (the hook waits) or crashes it there (the hook raises).
    """

    def __init__(self, redis: Redis, nth: int, hook: Callable[[], Awaitable[None]]) -> None:
        self.redis = redis
        self.nth = nth
        self.hook = hook
        self.pipelines = 0

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = self.redis.pipeline(transaction=transaction, shard_hint=shard_hint)
        self.pipelines += 1
        if self.pipelines == self.nth:
            execute = pipe.execute

            async def hooked(raise_on_error: bool = True) -> list[Any]:
                await self.hook()
                return await execute(raise_on_error)

            pipe.execute = hooked  # type: ignore[method-assign]
        return pipe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)


@asynccontextmanager
async def running_api(
    redis_url: str, prefix: str, max_staleness_s: float = 0.0, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The API app, its lifespan run, behind an in-process HTTP client.

    With no projector around, readiness is about Redis alone unless
    ``max_staleness_s`` asks for heartbeats.
    """
    api_settings = ApiSettings(
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        generation_refresh_s=0.1,
        ready_max_staleness_s=max_staleness_s,
        **settings,
    )
    app = create_app(api_settings)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client
