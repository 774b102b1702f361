"""The Lua scripts of ``readmodel/lua/``, each loaded by name and run by its SHA.

A script runs by ``EVALSHA``; when Redis has forgotten it (restarted, failed
over, ``SCRIPT FLUSH``) the reply is NOSCRIPT, and the script is loaded and
run again: ``Script.run`` for one command, ``ScriptSet.run`` for an idempotent
operation (a batch of pipelined calls) whose scripts are loaded together.

A script whose first line is ``#!lua flags=no-writes`` is read-only: it runs
by ``EVALSHA_RO`` (Redis 7), which a Redis user allowed only read commands may
run, and which a Redis Cluster may serve from a replica. The other scripts
start with ``#!lua`` (added here when the file has no such line): a Redis
Cluster then refuses any key outside the slot of the script's declared keys,
even one it builds itself (``<base>:s:<series>``) and even on the same node,
so a key out of its slot fails at once rather than only when slots move.

A script may name a library: a file of functions (``lists.lua``) put in front
of the script's own code, after its ``#!lua`` line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

from readmodel.connections import RedisClient, RedisPipeline
from readmodel.resp import PipelinedConnection

T = TypeVar("T")

READ_ONLY = "#!lua flags=no-writes"
"""The first line of a read-only script."""


def lua_source(name: str) -> str:
    """The text of ``readmodel/lua/<name>.lua``."""
    path = resources.files("readmodel").joinpath("lua", f"{name}.lua")
    if not path.is_file():
        raise FileNotFoundError(f"no Lua script named {name!r} in readmodel/lua/")
    return path.read_text()


@dataclass(frozen=True, slots=True)
class Runner:
    """How to send one command to a client, and how to load a script there."""

    call: Callable[..., Awaitable[Any]]
    load: Callable[[str], Awaitable[Any]]

    @classmethod
    def of(cls, client: RedisClient | PipelinedConnection) -> Runner:
        if isinstance(client, PipelinedConnection):
            connection = client

            async def load(source: str) -> Any:
                return await connection.call("SCRIPT", "LOAD", source)

            return cls(connection.call, load)
        return cls(client.execute_command, client.script_load)


class Script:
    """One script of ``readmodel/lua/``, with its SHA and the command that runs it."""

    def __init__(self, name: str, library: str | None = None) -> None:
        own = lua_source(name)
        first, _, rest = own.partition("\n")
        if not first.startswith("#!lua"):
            first, rest = "#!lua", own
        self.name = name
        self.source = first + "\n" + (lua_source(library) if library else "") + rest
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self.read_only = first.strip() == READ_ONLY
        self.command = "EVALSHA_RO" if self.read_only else "EVALSHA"

    def __repr__(self) -> str:
        return f"Script({self.name!r})"

    async def run(self, runner: Runner, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply; loads it first if Redis has forgotten it."""
        try:
            return await runner.call(self.command, self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await runner.load(self.source)
            return await runner.call(self.command, self.sha, len(keys), *keys, *args)

    def queue(self, pipe: RedisPipeline, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue a call on ``pipe`` (a batch that ``ScriptSet.run`` runs)."""
        if self.read_only:
            pipe.execute_command(self.command, self.sha, len(keys), *keys, *args)
        else:
            pipe.evalsha(self.sha, len(keys), *keys, *args)


class ScriptSet:
    """Scripts that an operation runs together, loaded together."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts

    def __iter__(self) -> Iterator[Script]:
        return iter(self.scripts)

    async def load(self, redis: RedisClient) -> None:
        """Load every script (on every primary of a cluster)."""
        for script in self.scripts:
            await redis.script_load(script.source)

    async def run(self, redis: RedisClient, operation: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent operation that calls these scripts by their SHA; if
        Redis has forgotten them, load them and run it again."""
        try:
            return await operation()
        except NoScriptError:
            await self.load(redis)
            return await operation()
