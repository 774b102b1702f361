"""The lean pipelines of ``readmodel.resp`` against a real Redis.

The read model's whole contract and its laws run through them in
test_writer.py (``connect_redis`` gives a ``LeanRedis`` on one node); here,
their replies and errors are redis-py's own.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from readmodel.connections import connect_redis
from readmodel.resp import LeanPipeline, LeanRedis, pack, pack_one
from tests.integration.readmodel.test_writer import (
    delete_keys,
)


def test_the_store_suite_runs_through_lean_pipelines(redis_url: str) -> None:
    """test_writer.py's contract and laws use ``connect_redis``: on one node,
    that is a ``LeanRedis``, so they cover these pipelines; not run again here."""
    if not redis_url.startswith("redis://"):
        pytest.skip("a single node's URL only")
    assert type(connect_redis(redis_url)) is LeanRedis


ECHO = "return {#KEYS, ARGV[1], ARGV[2]}"
ECHO_SHA = hashlib.sha1(ECHO.encode()).hexdigest()


def queue(pipe: Any, namespace: str) -> None:
    pipe.set(f"{namespace}:s", "value")
    pipe.get(f"{namespace}:s")
    pipe.hset(f"{namespace}:h", mapping={"a": 1, "b": b"\x00\xff"})
    pipe.hgetall(f"{namespace}:h")
    pipe.sadd(f"{namespace}:set", 1, 2, 2)
    pipe.smembers(f"{namespace}:set")
    pipe.exists(f"{namespace}:s", f"{namespace}:none")
    pipe.eval("return {1, 'two', {3}}", 0)
    pipe.incrbyfloat(f"{namespace}:f", 1.5)
    pipe.get(f"{namespace}:none")
    pipe.evalsha(ECHO_SHA, 1, f"{namespace}:s", b"arg", 7)
    pipe.evalsha("0" * 40, 0)  # NOSCRIPT: an error reply, as redis-py gives it


@pytest.mark.parametrize("query", ["", "?protocol=2"], ids=["resp3", "resp2"])
async def test_replies_are_redis_pys_own(redis_url: str, namespace: str, query: str) -> None:
    lean, plain = LeanRedis.from_url(redis_url + query), Redis.from_url(redis_url + query)
    try:
        lean_pipe = lean.pipeline(transaction=False)
        assert isinstance(lean_pipe, LeanPipeline)
        queue(lean_pipe, f"{namespace}:lean")
        plain_pipe = plain.pipeline(transaction=False)
        queue(plain_pipe, f"{namespace}:plain")

        await plain.script_load(ECHO)
        lean_replies = await lean_pipe.execute(raise_on_error=False)
        plain_replies = await plain_pipe.execute(raise_on_error=False)
        assert [repr(reply) for reply in lean_replies] == [repr(reply) for reply in plain_replies]
        assert isinstance(lean_replies[-1], NoScriptError)
        assert len(lean_pipe) == 0  # executing empties it
        assert await lean_pipe.execute() == []
    finally:
        await delete_keys(plain, namespace)
        await lean.aclose()
        await plain.aclose()


async def test_an_error_reply_raises_as_in_redis_py_after_every_reply(
    redis_url: str, namespace: str
) -> None:
    redis = LeanRedis.from_url(redis_url)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.evalsha("0" * 40, 0)
        pipe.set(f"{namespace}:after", "written")
        with pytest.raises(NoScriptError, match="Command # 1"):
            await pipe.execute()

        pipe.set(f"{namespace}:list", "x")
        pipe.lpush(f"{namespace}:list", "y")
        pipe.get(f"{namespace}:list")
        replies = await pipe.execute(raise_on_error=False)
        assert replies[0] is True and replies[2] == b"x"
        assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])

        # The connection is still in step: the next replies are the right ones.
        pipe.get(f"{namespace}:after")
        pipe.echo("next")
        assert await pipe.execute() == [b"written", b"next"]
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


async def test_it_talks_to_the_database_the_url_names(redis_url: str, namespace: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/5"
    lean, db5 = LeanRedis.from_url(url), Redis.from_url(url)
    try:
        pipe = lean.pipeline(transaction=False)
        pipe.set(f"{namespace}:db", "five")
        await pipe.execute()
        assert await db5.get(f"{namespace}:db") == b"five"
    finally:
        await db5.delete(f"{namespace}:db")
        await lean.aclose()
        await db5.aclose()


async def test_transactions_and_decoded_clients_keep_redis_pys_pipeline(redis_url: str) -> None:
    lean = connect_redis(redis_url)
    decoded = LeanRedis.from_url(redis_url, decode_responses=True)
    try:
        assert isinstance(lean, LeanRedis)
        assert not isinstance(lean.pipeline(transaction=True), LeanPipeline)
        assert not isinstance(decoded.pipeline(transaction=False), LeanPipeline)
    finally:
        await lean.aclose()
        await decoded.aclose()


def test_pack_is_resp() -> None:
    assert pack([["SET", b"k\r\n", 12], ["EVALSHA", "sha", 0, 1.5]]) == (
        b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n"
        b"*4\r\n$7\r\nEVALSHA\r\n$3\r\nsha\r\n$1\r\n0\r\n$3\r\n1.5\r\n"
    )
    with pytest.raises(TypeError, match="cannot send"):
        pack([["SET", "k", None]])


@given(
    st.lists(
        st.lists(
            st.one_of(
                st.binary(max_size=40),
                st.text(max_size=20),
                st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=False),
            ),
            min_size=1,
            max_size=12,
        ).map(lambda args: args if len(args) % 2 else tuple(args)),
        max_size=6,
    )
)
def test_pack_is_the_same_as_packing_in_python(commands: list[Any]) -> None:
    assert pack(commands) == b"".join(pack_one(command) for command in commands)


async def test_many_and_big_replies_come_back_whole_and_in_order(
    redis_url: str, namespace: str
) -> None:
    """Replies far past what the reader is fed at a time, some bigger than it."""
    lean = LeanRedis.from_url(redis_url)
    try:
        values = [(b"%d:" % i) * (i % 50) for i in range(5000)] + [b"x" * 300_000, b"y" * 70_000]
        pipe = lean.pipeline(transaction=False)
        for i, value in enumerate(values):
            pipe.set(f"{namespace}:{i}", value)
        assert await pipe.execute() == [True] * len(values)
        for i in range(len(values)):
            pipe.get(f"{namespace}:{i}")
        assert await pipe.execute() == values
    finally:
        await delete_keys(lean, namespace)
        await lean.aclose()


async def test_a_lost_server_raises_redis_pys_error_then_it_reconnects(redis_server: Any) -> None:
    redis = LeanRedis.from_url(redis_server.url)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.set("k", 1)
        assert await pipe.execute() == [True]

        redis_server.stop()
        pipe.set("k", 2)
        with pytest.raises(RedisConnectionError):
            await pipe.execute()  # the link it had is dead
        pipe.set("k", 2)
        with pytest.raises(RedisConnectionError):
            await pipe.execute()  # and no new one can be made

        redis_server.start()
        pipe.set("k", 3)
        pipe.get("k")
        assert await pipe.execute() == [True, b"3"]
    finally:
        await redis.aclose()
