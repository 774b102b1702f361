"""A Faust workaround: each app sets its worker consumer's ``fetch_max_wait_ms``.

Faust creates its worker consumer with ``fetch_max_wait_ms`` fixed at 1500 and
has no setting for it. A broker that answers a fetch only when the wait is
over, not as soon as a record arrives (Tansu does), adds up to that wait to
every event's latency. ``set_fetch_wait`` gives an app its own wait; the
consumer reads it when it starts.

Delete this module when Faust stops fixing the wait:
``tests/unit/projector/test_faust_fetch_wait.py`` fails then.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import AppT

_fetch_waits: weakref.WeakKeyDictionary[AppT, int] = weakref.WeakKeyDictionary()


def set_fetch_wait(app: AppT, wait_ms: int) -> None:
    """Make ``app``'s worker consumer wait at most ``wait_ms`` for a fetch."""
    _patch_the_worker_consumer()
    _fetch_waits[app] = wait_ms


def _patch_the_worker_consumer() -> None:
    original = AIOKafkaConsumerThread._create_worker_consumer
    if hasattr(original, "__wrapped__"):
        return  # patched already

    @functools.wraps(original)
    def create(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = original(self, transport)
        wait = _fetch_waits.get(self.app)
        if wait is not None:
            consumer._fetch_max_wait_ms = wait
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
