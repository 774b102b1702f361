"""The Faust floor: a worker with the projector's settings whose agent only decodes.

    python -m bench.faust_floor     (settings from the environment, as the projector's)

Same app settings (``projector.worker.app.faust_app``: commit interval and count,
session timeout, serializers), same topics, same batching and acknowledgement
after the batch (``projector.worker.batches.in_batches``); but each record is only
decoded (``projector.worker.pipeline.event_of``), nothing is projected or written. What the
projector does above this is its own cost.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import faust

from events.errors import InvalidEvent
from projector.settings import ProjectorSettings
from projector.worker.app import faust_app, to_record
from projector.worker.batches import Batches, in_batches
from projector.worker.pipeline import event_of


def create_floor_app(settings: ProjectorSettings) -> faust.App:
    app = faust_app(settings)
    topics = app.topic(*settings.topics.names(), key_type=bytes, value_type=bytes)

    async def prepare(batch: list[Any]) -> None:
        for event in batch:
            with contextlib.suppress(InvalidEvent):
                event_of(to_record(event))

    async def write(prepared: None) -> None:
        pass

    @app.agent(topics, concurrency=1, name="decode")
    async def decode(stream: faust.StreamT[bytes]) -> None:
        await in_batches(
            stream,
            Batches(settings.batch_size, settings.batch_within_s, settings.batch_quiet_s),
            prepare,
            write,
        )

    return app


def main() -> int:
    from faust import Worker

    settings = ProjectorSettings()
    worker = Worker(
        create_floor_app(settings), loglevel="WARNING", quiet=True, redirect_stdouts=False
    )
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
