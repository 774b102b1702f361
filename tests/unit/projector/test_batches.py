"""``Batches``: when the records gathered make a batch."""

from __future__ import annotations

import asyncio

from projector.worker.batches import Batches


async def settle() -> None:
    """Let every task that can run, run (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


HOUR = 3600.0


async def test_a_batch_is_taken_at_once_when_nothing_is_being_written() -> None:
    batches = Batches(size=100, within_s=HOUR)
    await batches.add("a")
    taking = asyncio.ensure_future(batches.take(None))
    await settle()
    assert taking.done()
    assert taking.result() == ["a"]


async def test_records_wait_while_the_batch_before_is_written_and_the_batch_grows() -> None:
    batches = Batches(size=100, within_s=HOUR)
    writing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await batches.add("a")
    taking = asyncio.ensure_future(batches.take(writing))
    await settle()
    await batches.add("b")
    await batches.add("c")
    await settle()
    assert not taking.done()
    writing.set_result(None)
    await settle()
    assert taking.result() == ["a", "b", "c"]
    assert len(batches) == 0


async def test_a_full_batch_is_taken_while_the_one_before_is_written() -> None:
    batches = Batches(size=2, within_s=HOUR, quiet_s=HOUR)
    writing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    taking = asyncio.ensure_future(batches.take(writing))
    await batches.add("a")
    await settle()
    assert not taking.done()
    await batches.add("b")
    await settle()
    assert taking.result() == ["a", "b"]
    writing.cancel()


async def test_adding_to_a_full_batch_waits_until_it_is_taken() -> None:
    batches = Batches(size=2, within_s=HOUR)
    await batches.add("a")
    await batches.add("b")
    adding = asyncio.ensure_future(batches.add("c"))
    await settle()
    assert not adding.done()
    assert await batches.take(None) == ["a", "b"]
    await settle()
    assert adding.done()
    assert await batches.take(None) == ["c"]


async def test_while_records_keep_coming_an_idle_writer_waits_for_the_batch_to_fill() -> None:
    batches = Batches(size=3, within_s=HOUR, quiet_s=HOUR)
    await batches.add("a")
    taking = asyncio.ensure_future(batches.take(None))
    await settle()
    await batches.add("b")
    await settle()
    assert not taking.done()
    await batches.add("c")
    await settle()
    assert taking.result() == ["a", "b", "c"]


async def test_records_that_keep_coming_wait_no_longer_than_the_batch_window() -> None:
    batches = Batches(size=3, within_s=0.0, quiet_s=HOUR)
    await batches.add("a")
    taking = asyncio.ensure_future(batches.take(None))
    await settle()
    assert taking.result() == ["a"]


async def test_nothing_is_taken_from_an_empty_buffer() -> None:
    batches = Batches(size=2, within_s=HOUR)
    taking = asyncio.ensure_future(batches.take(None))
    await settle()
    assert not taking.done()
    await batches.add("a")
    await settle()
    assert taking.result() == ["a"]


async def test_a_batch_that_waited_the_window_is_taken_while_the_one_before_is_written() -> None:
    """At full load it is prepared while Redis applies the batch before."""
    batches = Batches(size=3, within_s=0.0, quiet_s=HOUR)
    writing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await batches.add("a")
    taking = asyncio.ensure_future(batches.take(writing))
    await settle()
    assert taking.result() == ["a"]
    writing.cancel()
