"""Retrying an operation with capped exponential backoff, for as long as it takes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    what: str,
    *,
    first_delay_s: float = 0.05,
    max_delay_s: float = 5.0,
) -> T:
    """Run ``operation`` until it succeeds; only cancellation stops it.

    The operations retried here are idempotent (applying a batch, sending a
    dead letter), so running one again after a failure is always safe.
    """
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            return await operation()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning(
                "%s failed (attempt %d), retrying in %.2fs: %r", what, attempt, delay, exc
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
        attempt += 1
