"""``create_app``: the Faust app with the settings Faust itself does not expose."""

from __future__ import annotations

import pytest

from projector.settings import ProjectorSettings
from projector.worker.app import create_app


@pytest.mark.parametrize("wait_ms", [50, 1500])
async def test_the_worker_consumer_holds_fetches_as_long_as_the_settings_say(
    wait_ms: int, tmp_path: object
) -> None:
    """Tansu holds a fetch for the whole wait: the worker's is ``PROJECTOR_FETCH_MAX_WAIT_MS``."""
    app = create_app(
        ProjectorSettings(fetch_max_wait_ms=wait_ms, metrics_port=0, data_dir=str(tmp_path))
    )
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == wait_ms
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # never started: nothing else to stop
