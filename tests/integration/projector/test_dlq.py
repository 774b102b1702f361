"""``python -m projector dlq``: dead letters listed, shown and replayed, on real services."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from events.times import wall_clock_ms
from events.topics import dlq_topic
from projector.commands import dlq as deadletter_cli
from projector.commands.deadletter_view import DeadLetter, diagnose, kind_of_reason, parse_id
from projector.kafka.records import Record
from projector.settings import ProjectorSettings
from projector.worker.startup import prepare
from readmodel.keys import Control, as_text, entry
from tests.builders import HOUR_MS, at, encode, scheduled
from tests.system import System

NOT_JSON = b"{not json"
UNKNOWN_TYPE = (
    b'{"event_id":"x","event_type":"registration.teleported",'
    b'"occurred_at":"2026-05-01T12:00:00Z","data":{}}'
)
BROKEN_RULE = (
    b'{"event_id":"y","event_type":"meeting.canceled","occurred_at":"2026-05-01T12:00:00Z",'
    b'"data":{"meeting_id":0,"organization_id":5,"version":1}}'
)


async def run(
    settings: ProjectorSettings, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """The same command in this process: its exit status, stdout and stderr."""
    root = argparse.ArgumentParser()
    deadletter_cli.add_parser(root.add_subparsers(dest="command"))
    args = root.parse_args(["dlq", *argv])
    capsys.readouterr()
    status: int = await args.run(settings, args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def listed(
    settings: ProjectorSettings, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    status, out, _ = await run(settings, capsys, "list", "--json")
    assert status == 0
    return [json.loads(line) for line in out.splitlines()]


async def dead_letter(
    system: System, topic: str, value: bytes, key: bytes | None, reason: str = "an old rule"
) -> None:
    """A dead letter as the projector writes one, from a record that was never on ``topic``."""
    producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            dlq_topic(topic),
            value,
            key=key,
            headers=[
                ("dlq.reason", reason.encode()),
                ("dlq.topic", topic.encode()),
                ("dlq.partition", b"0"),
                ("dlq.offset", b"0"),
            ],
        )
    finally:
        await producer.stop()


async def test_the_worker_s_dead_letters_are_listed_shown_and_still_invalid_ones_refused(
    system: System, settings: ProjectorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    await prepare(settings)
    topics = system.topics
    system.start("projector")
    await system.publish_raw(topics.meetings, NOT_JSON, b"1")
    await system.publish_raw(topics.registrations, UNKNOWN_TYPE)
    await system.publish_raw(topics.cancellations, BROKEN_RULE, b"0")
    await system.wait_caught_up()

    result = await system.projector("dlq", "list")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for topic, kind in [
        (topics.meetings, "invalid_json"),
        (topics.registrations, "unknown_event_type"),
        (topics.cancellations, "broken_rule"),
    ]:
        (line,) = [line for line in lines if line.startswith(f"{dlq_topic(topic)}:")]
        assert f" {topic}[" in line and f"  {kind}  " in line
    assert "3 dead letters, by kind:" in lines
    assert {line.split()[0] for line in lines if line.startswith("  ")} == {
        "invalid_json",
        "unknown_event_type",
        "broken_rule",
    }

    letters = await listed(settings, capsys)
    assert {d["kind"] for d in letters} == {"invalid_json", "unknown_event_type", "broken_rule"}
    for d in letters:  # the text rule agrees with decoding on the projector's real reasons
        assert kind_of_reason(d["reason"]) == d["kind"] and d["valid_now"] is False
        assert d["source_offset"] == 0 and d["id"].startswith(dlq_topic(d["source_topic"]))
    (bad_json,) = [d for d in letters if d["kind"] == "invalid_json"]

    status, out, _ = await run(settings, capsys, "show", bad_json["id"])
    assert status == 0
    assert f"id:        {bad_json['id']}" in out
    assert "  b'{not json'" in out and "key:       b'1'" in out
    assert f"  dlq.topic: {topics.meetings}" in out
    assert "today:     still invalid (invalid_json): Invalid JSON" in out
    padded = bad_json["id"] + "0"  # offset "00": the same record
    assert (await run(settings, capsys, "show", padded))[1] == out

    refused = await system.projector("dlq", "replay", bad_json["id"], f"{bad_json['id']}9")
    assert refused.returncode == 1
    assert f"refused   {bad_json['id']}: still invalid (invalid_json)" in refused.stdout
    assert f"missing   {bad_json['id']}9: no such dead letter" in refused.stdout
    assert "0 replayed, 1 refused, 1 missing" in refused.stdout

    status, out, _ = await run(settings, capsys, "list", "--topic", "registration-events")
    assert status == 0 and "1 dead letter, by kind:" in out and "unknown_event_type" in out


async def test_a_dead_letter_that_decodes_after_a_fix_is_replayed_and_applied(
    system: System, settings: ProjectorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    await prepare(settings)
    topics = system.topics
    system.start("projector")
    future = wall_clock_ms() + 24 * HOUR_MS
    fixed = scheduled(
        meeting_id=4242, organization_id=77, start_time=at(future), end_time=at(future + HOUR_MS)
    )
    await dead_letter(system, topics.meetings, encode(fixed), b"4242")
    await dead_letter(system, topics.meetings, NOT_JSON, b"1", reason="Invalid JSON: oops")
    (good,) = [d for d in await listed(settings, capsys) if d["valid_now"]]
    assert good["kind"] == "broken_rule"  # from the old reason's text

    result = await system.projector("dlq", "replay", good["id"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"replayed  {good['id']} -> {topics.meetings}[0]@0" in result.stdout
    await system.wait_caught_up()
    redis = Redis.from_url(system.redis_url)
    try:
        generation = as_text(await redis.get(Control(system.namespace).current) or b"")
        doc = Control(system.namespace).keyspace(generation).org(77).doc
        assert await redis.hexists(doc, entry(4242))
    finally:
        await redis.aclose()

    # --all --kind: only the kind asked for; --force: even what still fails.
    status, out, _ = await run(settings, capsys, "replay", "--all", "--kind", "invalid_json")
    assert status == 1 and "0 replayed, 1 refused, 0 missing" in out
    status, out, _ = await run(
        settings, capsys, "replay", "--all", "--kind", "invalid_json", "--force"
    )
    assert status == 0 and f"-> {topics.meetings}[0]@1" in out
    await system.wait_caught_up()
    # The worker rejects it again: a new dead letter pointing at the replayed record.
    again = [d for d in await listed(settings, capsys) if d["source_offset"] == 1]
    assert [d["kind"] for d in again] == ["invalid_json"]


async def test_bad_ids_and_an_unreachable_broker_are_reported(
    system: System, settings: ProjectorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = await run(settings, capsys, "show", "no-partition")
    assert (status, err.split(":")[0]) == (2, "projector dlq")
    assert "not a dead letter id" in err
    await prepare(settings)
    missing = f"{dlq_topic(system.topics.meetings)}:0:5"
    status, _, err = await run(settings, capsys, "show", missing)
    assert (status, err) == (1, f"projector dlq: no dead letter {missing}\n")

    started = time.monotonic()
    result = await system.projector("dlq", "list", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == 1 and result.stdout == ""
    assert "projector dlq: Kafka at 127.0.0.1:1 unreachable" in result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Invalid JSON: expected value at line 1 column 1", "invalid_json"),
        (
            "Input tag 'x' found using 'event_type' does not match any of the expected tags: ...",
            "unknown_event_type",
        ),
        ("Unable to extract tag using discriminator 'event_type'", "unknown_event_type"),
        ("the record has no value", "no_value"),
        ("cannot project: KeyError('x')", "projection_error"),
        ("data.meeting_id: Input should be greater than 0", "broken_rule"),
    ],
)
def test_the_kind_of_a_reason(reason: str, kind: str) -> None:
    assert kind_of_reason(reason) == kind


def test_ids_and_decoding_today() -> None:
    letter = DeadLetter(
        Record("p.meeting-events.dlq", 2, 7, b"1", None, headers=(("dlq.topic", b"p.x"),))
    )
    assert parse_id(letter.id) == (("p.meeting-events.dlq", 2), 7)
    assert letter.source == "p.x[?]@?"
    assert diagnose(letter).kind == "no_value" and not diagnose(letter).valid_now
