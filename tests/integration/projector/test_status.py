"""``python -m projector status``: offsets, generations, counts and workers, on real services."""

from __future__ import annotations

import argparse
import json
import re
import time

import pytest
from redis.asyncio import Redis

from events.times import wall_clock_ms
from projector.commands import status as status_cli
from projector.commands.status import active_users, format_age, is_upcoming
from projector.settings import ProjectorSettings
from projector.worker.startup import prepare
from readmodel.keys import Control
from readmodel.writer import RedisReadModel
from tests.builders import (
    HOUR_MS,
    Event,
    at,
    canceled,
    registration_canceled,
    registration_created,
    scheduled,
)
from tests.integration.helpers import changes_of
from tests.system import System

DAY_MS = 24 * HOUR_MS
RESUME = "paused (resume with `python -m projector rebuild`)"


def history(now: int) -> list[Event]:
    """Organizations 5 and 6; meetings 1, 2, 3 upcoming, 4 canceled; 3 active registrants."""

    def meeting(meeting_id: int, organization_id: int, days: int) -> Event:
        start = now + days * DAY_MS
        return scheduled(
            meeting_id, organization_id, start_time=at(start), end_time=at(start + HOUR_MS)
        )

    return [
        meeting(1, 5, 1),
        meeting(2, 5, 2),
        meeting(3, 6, 3),
        meeting(4, 6, 1),
        canceled(meeting_id=4, organization_id=6, version=2),
        registration_created(registration_id=1, meeting_id=1, user_id=101),
        registration_created(registration_id=2, meeting_id=1, user_id=102),
        registration_created(registration_id=3, meeting_id=1, user_id=101),  # again: one user
        registration_created(registration_id=4, meeting_id=2, user_id=103),
        registration_canceled(registration_id=4, meeting_id=2, user_id=103),
        registration_created(registration_id=5, meeting_id=3, user_id=104),
    ]


async def run(settings: ProjectorSettings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    root = argparse.ArgumentParser()
    status_cli.add_parser(root.add_subparsers(dest="command"))
    args = root.parse_args(["status", *argv])
    capsys.readouterr()
    assert await args.run(settings, args) == 0
    return capsys.readouterr().out


async def test_after_catching_up_the_lag_is_zero_and_the_counts_are_exact(
    system: System, settings: ProjectorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    await prepare(settings)
    system.start("projector")
    events = history(wall_clock_ms())
    await system.publish(events)
    await system.wait_caught_up()

    result = await system.projector("status", "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["group_id"] == system.group_id
    assert document["totals"] == {"committed": len(events), "end": len(events), "lag": 0}
    partitions = document["partitions"]
    assert {p["topic"] for p in partitions} == set(system.topics.names())
    assert len(partitions) == 4 * settings.topic_partitions
    assert all(p["lag"] == 0 and p["committed"] == p["end"] for p in partitions)
    assert all(p["lag_seconds"] == 0 for p in partitions)
    assert document["current"] == "1" and document["rebuild"] is None
    assert document["counts"] == {
        "organizations": 2,
        "upcoming_meetings": 3,
        "registrations": 3,
    }

    out = await run(settings, capsys)
    assert f"consumer group {system.group_id}" in out
    total = [line.split() for line in out.splitlines() if line.strip().startswith("total")]
    assert total == [["total", str(len(events)), str(len(events)), "0", "0.0s"]]
    assert "generation   1" in out and "rebuild      none in progress" in out
    counts = {
        line.rsplit(maxsplit=1)[0].strip(): line.split()[-1]
        for line in out.splitlines()
        if line.startswith("  ") and line.split()[-1].isdigit() and "[" not in line
    }
    assert counts["organizations"] == "2" and counts["upcoming meetings"] == "3"
    assert counts[status_cli.REGISTRATIONS_LABEL] == "3"


async def test_a_rebuild_and_the_workers_heartbeats_are_shown(
    system: System,
    settings: ProjectorSettings,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = wall_clock_ms()
    control = Control(system.namespace)
    await RedisReadModel(redis, control.keyspace("3")).apply(changes_of(history(now)))
    await redis.set(control.current, "3")

    out = await run(settings, capsys)
    assert "no source topics yet" in out
    assert "generation   3" in out and "rebuild      none in progress" in out
    assert "no projector worker has reported" in out

    topic = system.topics.meetings
    await redis.set(control.building, "4")
    await redis.hset(
        control.rebuild_progress,
        mapping={
            "generation": "4",
            "started_ms": now - 120_000,
            "events_total": 200,
            "events_done": 50,
            "updated_ms": now - 7_000,
            f"target:{topic}:0": 150,
            f"position:{topic}:0": 50,
            f"target:{topic}:1": 50,
        },
    )
    await redis.hset(
        control.heartbeats,
        mapping={
            "w-1": json.dumps(
                {
                    "worker": "w-1",
                    "at_ms": now - 2_000,
                    "last_applied_ms": now - 3_000,
                    "newest_event_ms": now - 65_000,
                    "events_applied": 1234,
                    "state": "running",
                }
            ),
            "w-2": json.dumps({"worker": "w-2"}),
            "w-3": "not json",
        },
    )

    out = await run(settings, capsys)

    lines = out.splitlines()
    assert f"rebuild      generation 4, {RESUME}" in lines
    # Ages are floored to the second: allow one for the time this test takes.
    assert re.search(r"50/200 events \(25\.0%\), started 2m [01]s ago, updated [78]s ago", out)
    assert any(f"{topic}[0]" in line and line.split()[-3:] == ["50", "/", "150"] for line in lines)
    assert any(f"{topic}[1]" in line and line.split()[-3:] == ["0", "/", "50"] for line in lines)
    assert re.search(r"workers \(newest applied event 1m [56]s ago\)", out)
    assert re.search(
        r"\n  w-1  running, heartbeat [23]s ago, newest applied event 1m [56]s ago, "
        r"1,234 events applied\n",
        out,
    )
    assert any(line.split()[:2] == ["w-2", "unknown"] for line in lines)
    assert any(line.split()[:3] == ["w-3", "unreadable", "heartbeat,"] for line in lines)

    await redis.set(control.rebuild_lock, "someone")
    document = json.loads(await run(settings, capsys, "--json"))
    rebuild = document["rebuild"]
    assert (rebuild["generation"], rebuild["paused"], rebuild["running"]) == ("4", False, True)
    assert rebuild["partitions"][0] == {"partition": f"{topic}[0]", "position": 50, "target": 150}
    assert [w["worker"] for w in document["workers"]] == ["w-1", "w-2", "w-3"]
    assert document["counts"]["upcoming_meetings"] == 3


async def test_an_unreachable_service_is_one_line_on_stderr_and_status_1(
    system: System, settings: ProjectorSettings
) -> None:
    await prepare(settings)
    for env, reason in [
        ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, "Kafka at 127.0.0.1:1 unreachable"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "Redis at redis://127.0.0.1:1/0 unreachable"),
    ]:
        started = time.monotonic()
        result = await system.projector("status", **env)
        assert result.returncode == 1 and result.stdout == ""
        assert f"projector status: {reason}" in result.stderr.splitlines()[-1]
        assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("age_ms", "text"),
    [
        (0, "0s ago"),
        (59_999, "59s ago"),
        (61_000, "1m 1s ago"),
        (3 * HOUR_MS + 60_000, "3h 1m ago"),
        (2 * DAY_MS + 5 * HOUR_MS, "2d 5h ago"),
    ],
)
def test_ages(age_ms: int, text: str) -> None:
    assert format_age(10 * DAY_MS, 10 * DAY_MS - age_ms) == text


def test_upcoming_means_listed_not_terminated_and_not_ended() -> None:
    assert is_upcoming([b"5", None, b"2000"], now_ms=1000)
    assert not is_upcoming([None, None, b"2000"], now_ms=1000)  # registrations only
    assert not is_upcoming([b"5", b"1", b"2000"], now_ms=1000)  # canceled or completed
    assert not is_upcoming([b"5", None, b"1000"], now_ms=1000)  # over


def test_registrations_count_each_user_with_an_active_one_once() -> None:
    state = {b"v": b"2", b"org": b"5", b"en": b"2000", b"rev": b"17", b"fp": b"12345678"}
    state |= {b"11": b"100", b"12": b"100", b"13": b"101", b"14": b"x"}  # 14: canceled

    assert active_users(state) == {b"100", b"101"}
