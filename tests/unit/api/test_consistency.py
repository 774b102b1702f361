"""api.consistency.AppliedPosition: the served generation's position, in process."""

from __future__ import annotations

import asyncio

import pytest

from api.consistency import AppliedPosition, Positions
from events.consistency import InvalidToken, Position, parse_token

TOPICS = ("m", "r")


def token(text: str) -> Position:
    return parse_token(text, TOPICS)


async def test_the_position_is_the_least_over_the_nodes_less_one() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10, ("r", 1): 4}, "p7": {("m", 0): 8}})
    # r:1 is on p0 only: p7 has applied nothing of it, so it is not included.
    assert applied.position == token("m:0:7")
    assert applied.token == b"m:0:7"


async def test_a_node_without_positions_holds_everything_back() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}, "p7": None})
    assert not applied.position


async def test_messages_move_a_node_forward_never_back() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}})
    applied.on_message(b"3 p0 m:0:12,r:1:3")
    assert applied.position == token("m:0:11,r:1:2")
    applied.on_message(b"3 p0 m:0:5")
    assert applied.position == token("m:0:11,r:1:2")


async def test_messages_of_another_generation_or_malformed_are_ignored() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}})
    applied.on_message(b"4 p0 m:0:99")
    applied.on_message(b"\xff\xfe")
    applied.on_message(b"3 p0 m:x:99,:0:5,m:0:")
    applied.on_message(b"3")
    assert applied.position == token("m:0:9")


async def test_topics_the_api_does_not_serve_are_left_out() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("other", 0): 10, ("m", 0): 1}})
    assert applied.position == token("m:0:0")


async def test_reach_wakes_on_the_message_that_covers_the_token() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 1}})
    waiter = asyncio.create_task(applied.reach(token("m:0:4"), timeout_s=5))
    await asyncio.sleep(0)
    applied.on_message(b"3 p0 m:0:3")  # m:0:2 applied: not yet
    await asyncio.sleep(0)
    assert not waiter.done()
    applied.on_message(b"3 p0 m:0:5")
    assert await asyncio.wait_for(waiter, 1)


async def test_reach_gives_up_after_its_timeout() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 1}})
    assert not await applied.reach(token("m:0:4"), timeout_s=0.05)


async def test_reach_reads_redis_again_when_no_message_comes() -> None:
    reads = 0

    async def read() -> Positions:
        nonlocal reads
        reads += 1
        return "3", {"p0": {("m", 0): 9}}

    applied = AppliedPosition(TOPICS, read=read, refresh_s=0.01)
    applied.reset("3", {"p0": {("m", 0): 1}})
    assert await applied.reach(token("m:0:4"), timeout_s=2)
    assert reads == 1


async def test_a_token_covered_once_is_not_covered_after_the_position_goes_back() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}})
    assert not applied.known_covered(b"m:0:9")
    assert applied.covers_token(b"m:0:9")
    assert applied.known_covered(b"m:0:9")
    assert not applied.covers_token(b"m:0:10")
    assert not applied.known_covered(b"m:0:10")
    applied.reset("3", {"p0": {("m", 0): 5}})  # a node came back with less
    assert not applied.known_covered(b"m:0:9")
    assert not applied.covers_token(b"m:0:9")
    applied.on_message(b"3 p0 m:0:11")
    assert applied.covers_token(b"m:0:10")


async def test_a_malformed_token_is_refused_every_time() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}})
    for _ in range(2):
        with pytest.raises(InvalidToken):
            applied.covers_token(b"x:0:1")
        with pytest.raises(InvalidToken):
            applied.parse(b"m:0:-1")
        with pytest.raises(InvalidToken):
            applied.parse("m:0:\u00e9".encode("latin-1"))
        assert not applied.known_covered(b"x:0:1")


async def test_a_parsed_token_is_the_position_parse_token_gives() -> None:
    applied = AppliedPosition(TOPICS)
    for text in ("m:0:7,r:1:2", "m:0:7,r:1:2", "r:1:2,m:0:7,m:0:3", ""):
        assert applied.parse(text.encode()) == token(text)


async def test_a_token_covered_in_one_generation_is_checked_again_in_the_next() -> None:
    applied = AppliedPosition(TOPICS)
    applied.reset("3", {"p0": {("m", 0): 10}})
    assert applied.covers_token(b"m:0:9")
    applied.reset("4", {"p0": {("m", 0): 2}})  # a swap to a generation not as far yet
    assert not applied.known_covered(b"m:0:9")
    assert not applied.covers_token(b"m:0:9")


async def test_a_read_started_before_one_already_taken_is_dropped() -> None:
    """A read that saw generation 3 ends after a later one that saw the swap to
    4: the position stays in generation 4."""
    gates = [asyncio.Event(), asyncio.Event()]
    answers: list[Positions] = [("3", {"p0": {("m", 0): 5}}), ("4", {"p0": {("m", 0): 9}})]
    reads = iter(range(2))

    async def read() -> Positions:
        number = next(reads)
        await gates[number].wait()
        return answers[number]

    applied = AppliedPosition(TOPICS, read=read)
    first = asyncio.create_task(applied.refresh())
    await asyncio.sleep(0)
    second = asyncio.create_task(applied.refresh())
    await asyncio.sleep(0)
    gates[1].set()
    await second
    gates[0].set()
    await first
    assert (applied.generation, applied.position) == ("4", token("m:0:8"))


async def test_forget_drops_the_position_and_the_reads_under_way() -> None:
    gate = asyncio.Event()

    async def read() -> Positions:
        await gate.wait()
        return "3", {"p0": {("m", 0): 9}}

    applied = AppliedPosition(TOPICS, read=read)
    applied.reset("3", {"p0": {("m", 0): 5}})
    under_way = asyncio.create_task(applied.refresh())
    await asyncio.sleep(0)
    applied.forget()  # Redis went away: what it said before may be lost
    assert (applied.generation, applied.token) == (None, b"")
    gate.set()
    await under_way
    assert (applied.generation, applied.token) == (None, b"")
    applied.on_message(b"3 p0 m:0:12")  # the generation is read again first
    assert not applied.position
    await applied.refresh()
    assert (applied.generation, applied.token) == ("3", b"m:0:8")
