"""``python -m events publish FILE`` against a real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from events.consistency import parse_token, position_of
from events.jsonlines import read_events
from events.models import decode_event
from events.topics import Topics, event_key

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples.jsonl"


async def test_publish_sends_every_event_to_its_topic_with_its_key(
    kafka_bootstrap_servers: str, namespace: str
) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "events", "publish", str(EXAMPLES)],
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": f"{namespace}.",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "published 10 event(s)" in result.stdout

    topics = Topics.with_prefix(f"{namespace}.")
    expected, _ = read_events(EXAMPLES.read_text().splitlines())
    consumer = AIOKafkaConsumer(
        *topics.names(),
        bootstrap_servers=kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"{namespace}-reader",
    )
    await consumer.start()
    try:
        received = []
        while len(received) < len(expected):
            batches = await consumer.getmany(timeout_ms=1000)
            received += [record for records in batches.values() for record in records]
    finally:
        await consumer.stop()

    got = {(r.topic, r.key, decode_event(r.value)) for r in received}
    assert got == {(topics.for_event(e), event_key(e), e) for e in expected}

    # The printed token names the last record published on each partition written.
    (token_line,) = [line for line in result.stdout.splitlines() if "Consistency-Token" in line]
    token = token_line.removeprefix("X-Consistency-Token: ")
    assert parse_token(token, topics.names()) == position_of(
        (r.topic, r.partition, r.offset) for r in received
    )
