"""The projector worker, timing each freshness probe on its way (bench only).

    BENCH_FRESH_TRACE=FILE python -m bench.fresh_trace   (settings as ``python -m projector``)

Runs ``python -m projector worker`` with a few functions wrapped to note, in
wall-clock seconds, when each probe record (key ``PROBE_KEY_PREFIX…``, see
``bench/projector.py``) passed each stage, and appends one JSON line per probe
to FILE once its batch is written:

- ``fetch_sent`` / ``fetched``: the broker fetch that returned it (sent, answered);
- ``message``: Faust turned it into a message (its consumer's ``_to_message``);
- ``taken``: its batch was taken by the agent (``Pipeline.prepare`` began);
- ``write_start`` / ``written``: its batch's ``Pipeline.write`` began / returned.

The bench adds when the probe was handed to the producer and when the API's
read path first listed it. Nothing here changes what the worker does.
"""

from __future__ import annotations

import bisect
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

PROBE_KEY_PREFIX = b"9000"


def install(path: str) -> None:
    from aiokafka.consumer.fetcher import Fetcher
    from faust.transport.drivers.aiokafka import Consumer

    from projector.kafka.records import Record
    from projector.worker.pipeline import Pipeline, Prepared

    lock = threading.Lock()
    fetch_ends: list[float] = []  # fetch answered, in order
    fetch_starts: list[float] = []
    messages: dict[bytes, dict[str, float]] = {}
    batches: dict[int, list[dict[str, Any]]] = {}
    out = open(path, "a", buffering=1)  # noqa: SIM115 - for the life of the process

    proc_fetch = Fetcher._proc_fetch_request

    async def traced_fetch(self: Fetcher, *args: Any, **kwargs: Any) -> Any:
        sent = time.time()
        try:
            return await proc_fetch(self, *args, **kwargs)
        finally:
            with lock:
                fetch_starts.append(sent)
                fetch_ends.append(time.time())

    Fetcher._proc_fetch_request = traced_fetch  # type: ignore[method-assign]

    to_message = Consumer._to_message

    def traced_to_message(self: Consumer, tp: Any, record: Any) -> Any:
        message = to_message(self, tp, record)
        key = record.key
        if key is not None and key.startswith(PROBE_KEY_PREFIX):
            now = time.time()
            with lock:
                i = bisect.bisect_right(fetch_ends, now) - 1
                fetched = fetch_ends[i] if i >= 0 else now
                sent = fetch_starts[i] if i >= 0 else now
            messages[bytes(key)] = {"fetch_sent": sent, "fetched": fetched, "message": now}
        return message

    Consumer._to_message = traced_to_message  # type: ignore[method-assign]

    prepare = Pipeline.prepare
    write = Pipeline.write

    async def traced_prepare(self: Pipeline, records: Sequence[Record]) -> Prepared:
        taken = time.time()
        prepared = await prepare(self, records)
        probes = []
        for record in records:
            if record.key is not None and record.key.startswith(PROBE_KEY_PREFIX):
                probe = messages.pop(bytes(record.key), {})
                probes.append(
                    {"key": record.key.decode(), **probe, "taken": taken, "batch": len(records)}
                )
        if probes:
            batches[id(prepared)] = probes
        return prepared

    async def traced_write(self: Pipeline, prepared: Prepared) -> None:
        started = time.time()
        await write(self, prepared)
        written = time.time()
        for probe in batches.pop(id(prepared), []):
            out.write(json.dumps({**probe, "write_start": started, "written": written}) + "\n")

    Pipeline.prepare = traced_prepare  # type: ignore[method-assign]
    Pipeline.write = traced_write  # type: ignore[method-assign]


def main() -> int:
    install(os.environ["BENCH_FRESH_TRACE"])
    from projector.cli import main as projector_main

    return projector_main(["worker"])


if __name__ == "__main__":
    sys.exit(main())
