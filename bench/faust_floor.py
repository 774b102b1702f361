"""The Faust floor: a worker with the projector's settings whose agent only decodes.

    python -m bench.faust_floor     (settings from the environment, as the projector's)

Same app settings (``projector.app.faust_app``: commit interval and count,
session timeout, serializers), same topics, same batching
(``noack_take(PROJECTOR_BATCH_SIZE, PROJECTOR_BATCH_WITHIN_S)``), same
acknowledgement after the batch; but each record is only decoded
(``projector.pipeline.event_of``), nothing is projected or written. What the
projector does above this is its own cost.
"""

from __future__ import annotations

import contextlib
import sys

import faust

from events.errors import InvalidEvent
from projector.app import faust_app, to_record
from projector.pipeline import event_of
from projector.settings import ProjectorSettings


def create_floor_app(settings: ProjectorSettings) -> faust.App:
    app = faust_app(settings)
    topics = app.topic(*settings.topics.names(), key_type=bytes, value_type=bytes)

    @app.agent(topics, concurrency=1, name="decode")
    async def decode(stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.noack_take(  # type: ignore[attr-defined]
            settings.batch_size, settings.batch_within_s
        ):
            for event in batch:
                with contextlib.suppress(InvalidEvent):
                    event_of(to_record(event))
            for event in batch:
                await stream.ack(event)

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
