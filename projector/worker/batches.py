"""Running a Faust agent's stream in batches, acknowledged once written.

``Batches`` says when the records gathered make a batch; ``in_batches`` feeds
the stream into them, prepares each batch, writes the batches one at a time and
in order, and acknowledges a batch's events only after it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Batches:
    """The agent's records, taken by the writer a batch at a time.

    ``take`` returns a batch once there are ``size`` records or its first
    record has waited ``within_s`` (such a batch is prepared while the one
    before is written), or once the batch before has been written (the
    writer is idle) and no record has come for ``quiet_s`` (what the
    consumer fetched has all arrived). So records wait for a window only
    while they keep coming, and batches grow with the load. ``add`` waits while a
    full batch is not taken yet, which holds Faust's stream (and then the
    consumer) back.
    """

    def __init__(self, size: int, within_s: float, quiet_s: float = 0.0) -> None:
        self.size = size
        self.within_s = within_s
        self.quiet_s = quiet_s
        self._items: list[Any] = []
        self._first_at = self._last_at = 0.0
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    async def add(self, item: Any) -> None:
        await self._room.wait()
        self._last_at = asyncio.get_running_loop().time()
        if not self._items:
            self._first_at = self._last_at
        self._items.append(item)
        if len(self._items) == 1 or len(self._items) >= self.size:
            self._changed.set()
        if len(self._items) >= self.size:
            self._room.clear()

    async def take(self, writing: asyncio.Future[Any] | None = None) -> list[Any]:
        """The next batch; ``writing`` is the batch before, being written."""
        loop = asyncio.get_running_loop()
        while len(self._items) < self.size:
            timer: asyncio.Future[Any] | None = None
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
            if self._items:
                due = self._first_at + self.within_s
                if writing is not None and not writing.done():
                    waits.append(writing)
                else:
                    due = min(self._last_at + self.quiet_s, due)
                if due <= loop.time():
                    waits[0].cancel()
                    break
                timer = asyncio.ensure_future(asyncio.sleep(due - loop.time()))
                waits.append(timer)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waits[0].cancel()
                if timer is not None:
                    timer.cancel()
            self._changed.clear()
        batch = self._items[: self.size]
        del self._items[: self.size]
        self._room.set()
        return batch


async def in_batches(
    stream: Any,
    batches: Batches,
    prepare: Callable[[list[Any]], Awaitable[T]],
    write: Callable[[T], Awaitable[None]],
) -> None:
    """Run an agent's ``stream`` in batches: prepare, write, then acknowledge.

    The stream's events go into ``batches`` (``Batches`` says when one is
    taken); a full batch is prepared while the one before is written. Batches
    are written one at a time, in order, each by a task of its own, and their
    events are acknowledged only once it is written: a worker stopped or
    killed mid-batch leaves the batch to be redelivered.
    """
    events = stream.noack()  # acknowledged by hand, once applied

    async def write_then_ack(prepared: T, batch: list[Any]) -> None:
        await write(prepared)
        for event in batch:
            await events.ack(event)

    async def write_batches() -> None:
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await batches.take(writing)
                prepared = await prepare(batch)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(write_then_ack(prepared, batch))
        finally:
            if writing is not None and not writing.done():
                writing.cancel()  # not acknowledged: redelivered
                with contextlib.suppress(asyncio.CancelledError):
                    await writing

    writer = asyncio.create_task(write_batches())
    try:
        async for event in events.events():
            if writer.done():
                break
            await batches.add(event)
        if writer.done():
            writer.result()  # its failure, if it failed
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
