"""Instants as both services hold them: whole milliseconds since the Unix epoch, UTC.

Events carry RFC 3339 timestamps (``epoch_ms`` reads them); the read model,
the API and the projector count in epoch milliseconds (``wall_clock_ms`` is
now). Both live here, below ``readmodel``, ``projector`` and ``api``, so that
every one of them can import the same definition.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, finer parts truncated (floored)."""
    return (moment - _EPOCH) // _MS


def wall_clock_ms() -> int:
    """Now, by the system's wall clock."""
    return time.time_ns() // 1_000_000
