"""Retrying an operation with capped exponential backoff.

Both services retry through ``retry``: the projector's worker forever (applying
a batch, sending a dead letter, connecting: each safe to run again), the
projector's commands and the API within a start-up timeout (waiting for Kafka
and Redis).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def retry(
    operation: Callable[[], Awaitable[T]],
    what: str,
    *,
    errors: tuple[type[Exception], ...] = (Exception,),
    timeout_s: float | None = None,
    first_delay_s: float = 0.05,
    max_delay_s: float = 5.0,
) -> T:
    """Run ``operation`` until it succeeds; its result.

    A failure with one of ``errors`` is logged and the operation run again
    after a delay that doubles from ``first_delay_s`` up to ``max_delay_s``.
    Any other exception, and cancellation, ends the retries at once. Without
    ``timeout_s`` only those end them; with it, a failure once ``timeout_s``
    has passed since the first attempt is raised (the last attempt is made
    at the deadline).
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            return await operation()
        except errors as exc:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise
            wait = delay if remaining is None else min(delay, remaining)
            logger.warning(
                "%s failed (attempt %d), retrying in %.2fs: %r", what, attempt, wait, exc
            )
        await asyncio.sleep(wait)
        delay = min(delay * 2, max_delay_s)
        attempt += 1
