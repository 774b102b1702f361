"""``projector/worker/faust_fetch_wait.py``: needed, and working.

The first test asserts what Faust does without the workaround. When it fails,
Faust no longer fixes the wait: delete the module and set the wait through
Faust.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from projector.worker.faust_fetch_wait import set_fetch_wait

FAUST_FIXED_WAIT_MS = 1500


@pytest.fixture
async def app(tmp_path: object) -> AsyncIterator[faust.App]:
    app = faust.App(
        "fetch-wait", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), web_enabled=False
    )
    yield app
    consumer_thread(app).thread_loop.close()  # never started: nothing else to stop


def consumer_thread(app: faust.App) -> AIOKafkaConsumerThread:
    return app.consumer._thread  # type: ignore[attr-defined,no-any-return]


async def worker_consumer_wait_ms(
    app: faust.App, create: Callable[[AIOKafkaConsumerThread, Any], Any]
) -> int:
    consumer = create(consumer_thread(app), app.transport)
    try:
        return int(consumer._fetch_max_wait_ms)
    finally:
        await consumer.stop()


async def test_faust_still_fixes_the_worker_consumers_fetch_wait(app: faust.App) -> None:
    set_fetch_wait(app, 50)  # the patch is in place, as in the worker
    patched = AIOKafkaConsumerThread._create_worker_consumer
    faust_own = patched.__wrapped__  # type: ignore[attr-defined]

    assert await worker_consumer_wait_ms(app, faust_own) == FAUST_FIXED_WAIT_MS
    assert [name for name in faust.Settings.setting_names() if "fetch" in name] == [
        "consumer_max_fetch_size"  # bytes, not the wait
    ]


@pytest.mark.parametrize("wait_ms", [0, 50, 1500])
async def test_each_app_sets_its_own_wait(app: faust.App, wait_ms: int) -> None:
    set_fetch_wait(app, wait_ms)
    set_fetch_wait(app, wait_ms)

    patched = AIOKafkaConsumerThread._create_worker_consumer
    assert not hasattr(patched.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]
    assert await worker_consumer_wait_ms(app, AIOKafkaConsumerThread._create_worker_consumer) == (
        wait_ms
    )


async def test_an_app_that_sets_no_wait_keeps_fausts(app: faust.App, tmp_path: object) -> None:
    other = faust.App(
        "other", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), web_enabled=False
    )
    set_fetch_wait(other, 50)

    assert await worker_consumer_wait_ms(app, AIOKafkaConsumerThread._create_worker_consumer) == (
        FAUST_FIXED_WAIT_MS
    )
