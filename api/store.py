"""``RedisPageReader``: pages of the read model, straight from Redis.

The fast path is one atomic script in the organization's hash slot that checks
the token and returns the page, documents already rendered. Only a token not
issued to the path's organization takes a second round trip, to tell the two
401s apart and to notice a read model that is gone (Redis restarted empty).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import ReadModelUnavailable
from projector.keys import Keyspace, current_generation_key

logger = logging.getLogger(__name__)


class Denial(enum.Enum):
    UNKNOWN_TOKEN = "Unauthorized Access"
    OTHER_ORGANIZATION = "Not Authorized"


@dataclass(frozen=True, slots=True)
class Page:
    total_items: int
    meetings: bytes  # the meeting documents, joined by ","


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RedisPageReader:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keyspace: Keyspace | None = None
        source = resources.files("api").joinpath("read.lua").read_text()
        self._read = redis.register_script(source)

    async def refresh(self) -> Keyspace | None:
        """Follow the generation the projector serves; None when there is none."""
        try:
            generation = await self.redis.get(current_generation_key(self.prefix))
        except RedisError as exc:
            raise ReadModelUnavailable(str(exc)) from exc
        if generation is None:
            self.keyspace = None
        elif self.keyspace is None or self.keyspace.generation != _text(generation):
            self.keyspace = Keyspace(self.prefix, _text(generation))
            logger.info("serving read model generation %s", self.keyspace.generation)
        return self.keyspace

    async def follow(self, interval_s: float) -> None:
        """Refresh the generation forever (a background task)."""
        while True:
            try:
                await self.refresh()
            except ReadModelUnavailable as exc:
                logger.warning("cannot read the current generation: %s", exc)
            await asyncio.sleep(interval_s)

    async def page(
        self,
        organization_id: int | None,
        token: str,
        series_id: int | None,
        now_ms: int,
        offset: int,
        limit: int,
    ) -> Page | Denial:
        """A page of the list, or why the token may not read it."""
        sha = token_sha256(token)
        try:
            for _attempt in range(2):
                keyspace = self.keyspace or await self.refresh()
                if keyspace is None:
                    raise ReadModelUnavailable("no read model generation is being served")
                if organization_id is not None:
                    keys = keyspace.org(organization_id)
                    view = keys.start if series_id is None else keys.series(series_id)
                    reply = await self._read(
                        keys=[keys.tokens, view, keys.end, keys.doc],
                        args=[sha, now_ms, offset, limit],
                    )
                    if reply[0] == 1:
                        return Page(int(reply[1]), reply[2])
                denial = await self._denial(keyspace, sha)
                if denial is not None:
                    return denial
            raise ReadModelUnavailable("the served generation keeps changing")
        except RedisError as exc:
            raise ReadModelUnavailable(str(exc)) from exc

    async def _denial(self, keyspace: Keyspace, sha: str) -> Denial | None:
        """Why the token was refused, or None when the generation has just changed."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keyspace.current)
        pipe.hgetall(keyspace.token(sha))
        generation, record = await pipe.execute()
        if generation is None:
            self.keyspace = None
            raise ReadModelUnavailable("the read model is gone (Redis lost its data?)")
        if _text(generation) != keyspace.generation:
            self.keyspace = Keyspace(self.prefix, _text(generation))
            return None
        if record and b"!" not in record:
            return Denial.OTHER_ORGANIZATION
        return Denial.UNKNOWN_TOKEN

    async def ready(self) -> str:
        """The generation served; raises ``ReadModelUnavailable`` otherwise."""
        keyspace = await self.refresh()
        if keyspace is None:
            raise ReadModelUnavailable("no read model generation is being served")
        return keyspace.generation
