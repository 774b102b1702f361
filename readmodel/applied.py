"""The channel on which the projector announces each batch it applied.

After a batch is written, the projector publishes its wall-clock time (ms) on
``<prefix>:{control}:applied``. The API's invalidation connection
(``api/tracking.py``) subscribes to it: Redis sends the invalidations of the
batch's writes before the announcement, so when the API reads it, every
answer the batch changed has left its cache. ``now - applied_ms`` is then the
time from apply to visible (``docs/observing.md``).
"""

from __future__ import annotations

from readmodel.keys import control_key


def applied_channel(prefix: str) -> str:
    return control_key(prefix, "applied")


def encode_applied(applied_ms: int) -> bytes:
    return b"%d" % applied_ms


def decode_applied(payload: bytes) -> int | None:
    """The announced time, or None for anything else."""
    return int(payload) if payload.isdigit() else None
