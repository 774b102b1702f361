"""projector.projection.render: a meeting's JSON document, byte for byte (docs/decisions.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events import decode_event
from events.models import MeetingSnapshot
from projector.projection.render import (
    DEFAULT_AVATAR,
    format_duration,
    format_time,
    leader_name,
    render_parts,
)
from readmodel.documents import COUNT_AT, expand
from tests.builders import encode, leader, scheduled
from tests.examples import example_events, example_meetings
from tests.unit.projector.documents import render_meeting


def meeting(**fields: Any) -> MeetingSnapshot:
    return decode_event(encode(scheduled(**fields))).data  # type: ignore[return-value]


def rendered(snapshot: MeetingSnapshot, registered_attendees: int = 0) -> dict[str, Any]:
    return json.loads(render_meeting(snapshot, registered_attendees))  # type: ignore[no-any-return]


def key_paths(document: Any, prefix: str = "") -> list[str]:
    """Every key of a JSON document, nested ones too, in document order."""
    paths = []
    for key, value in document.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths.extend(key_paths(value, f"{prefix}{key}."))
    return paths


@pytest.mark.parametrize(
    ("index", "registered_attendees"), [(0, 7), (1, 0)], ids=["meeting-9123", "meeting-9124"]
)
def test_reproduces_the_source_documents_example_exactly(
    index: int, registered_attendees: int
) -> None:
    event = example_events()[index]
    expected = example_meetings()[index]

    document = render_meeting(decode_event(encode(event)).data, registered_attendees)  # type: ignore[arg-type]

    assert json.loads(document) == expected
    assert key_paths(json.loads(document)) == key_paths(expected)
    assert document == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()


def test_head_and_tail_surround_the_count() -> None:
    snapshot = meeting()
    head, tail = render_parts(snapshot)

    for count in (0, 7, 12, 1000, 2**31):
        assert rendered(snapshot, count)["registered_attendees"] == count
    assert expand(head).endswith(b',"registered_attendees":')
    assert head.endswith(COUNT_AT)
    assert expand(tail).startswith(b',"group_leader":{')


def test_registered_attendees_is_not_capped_at_max_attendees() -> None:
    assert rendered(meeting(max_attendees=2), 5)["registered_attendees"] == 5


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0 minutes"),
        (1, "1 minute"),
        (2, "2 minutes"),
        (30, "30 minutes"),
        (59, "59 minutes"),
        (60, "1 hour"),
        (61, "1 hour 1 minute"),
        (90, "1 hour 30 minutes"),
        (120, "2 hours"),
        (121, "2 hours 1 minute"),
        (150, "2 hours 30 minutes"),
        (1440, "24 hours"),
        (1501, "25 hours 1 minute"),
    ],
)
def test_format_duration(minutes: int, text: str) -> None:
    assert format_duration(minutes) == text


@pytest.mark.parametrize(
    ("end_time", "minutes", "duration"),
    [
        ("2026-05-23T15:00:00.001Z", 0, "0 minutes"),
        ("2026-05-23T15:00:59.999Z", 0, "0 minutes"),
        ("2026-05-23T15:01:00.000Z", 1, "1 minute"),
        ("2026-05-23T15:30:00.000Z", 30, "30 minutes"),
        ("2026-05-23T16:30:59.999Z", 90, "1 hour 30 minutes"),
        ("2026-05-23T17:00:00.000Z", 120, "2 hours"),
        ("2026-05-24T15:00:00.000Z", 1440, "24 hours"),
    ],
)
def test_duration_is_whole_minutes_rounded_down(end_time: str, minutes: int, duration: str) -> None:
    document = rendered(meeting(start_time="2026-05-23T15:00:00.000Z", end_time=end_time))

    assert document["duration_in_minutes"] == minutes
    assert document["duration"] == duration


@pytest.mark.parametrize(
    ("first_name", "last_name", "name"),
    [
        ("Jane", "Doe", "Jane D."),
        ("Jane", "doe", "Jane D."),
        ("Jane", "", "Jane"),
        ("Jane", "d", "Jane D."),
        ("Zoë", "émile", "Zoë É."),
        ("Mary Ann", "van Dyke", "Mary Ann V."),
        ("李", "王", "李 王."),
    ],
)
def test_leader_name(first_name: str, last_name: str, name: str) -> None:
    assert leader_name(first_name, last_name) == name
    document = rendered(meeting(group_leader=leader(first_name=first_name, last_name=last_name)))
    assert document["group_leader"]["name"] == name


@pytest.mark.parametrize("avatar_url", [None, ""])
def test_avatar_falls_back_to_the_default(avatar_url: str | None) -> None:
    document = rendered(meeting(group_leader=leader(avatar_url=avatar_url)))

    assert document["group_leader"]["avatar"] == DEFAULT_AVATAR
    assert DEFAULT_AVATAR == "https://ssl.gstatic.com/accounts/ui/avatar_2x.png"


def test_avatar_is_kept_when_set() -> None:
    document = rendered(meeting(group_leader=leader(avatar_url="https://example.com/a.png")))

    assert document["group_leader"]["avatar"] == "https://example.com/a.png"


@pytest.mark.parametrize(
    ("start_time", "expected"),
    [
        ("2026-05-23T15:00:00Z", "2026-05-23T15:00:00.000Z"),
        ("2026-05-23T15:00:00.5Z", "2026-05-23T15:00:00.500Z"),
        ("2026-05-23T15:00:00.123Z", "2026-05-23T15:00:00.123Z"),
        ("2026-05-23T15:00:00.123999Z", "2026-05-23T15:00:00.123Z"),
        ("2026-05-23T17:00:00.042+02:00", "2026-05-23T15:00:00.042Z"),
        ("2026-05-23T23:30:00-01:00", "2026-05-24T00:30:00.000Z"),
    ],
)
def test_times_are_utc_with_milliseconds(start_time: str, expected: str) -> None:
    document = rendered(meeting(start_time=start_time, end_time="2026-05-25T00:00:00Z"))

    assert document["start_time"] == expected
    assert document["end_time"] == "2026-05-25T00:00:00.000Z"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (1_779_548_400_000, "2026-05-23T15:00:00.000Z"),
        (1_779_548_400_999, "2026-05-23T15:00:00.999Z"),
    ],
)
def test_format_time(ms: int, text: str) -> None:
    assert format_time(ms) == text


def test_empty_description_and_topic_stay_empty_strings() -> None:
    document = rendered(meeting(description="", topic=""))

    assert document["description"] == ""
    assert document["topic"] == ""


def test_null_description_and_series_stay_null() -> None:
    document = rendered(meeting(description=None, meeting_series_id=None))

    assert document["description"] is None
    assert document["meeting_series_id"] is None


def test_unicode_and_json_specials_survive() -> None:
    name = 'Café "Ünïcødé" \\ 会議 🙂\n<&>'
    snapshot = meeting(
        name=name,
        topic="Ansiedad y estrés",
        group_leader=leader(first_name="Ærøskøbing", last_name="ñandú"),
    )

    document = rendered(snapshot)

    assert document["name"] == name
    assert document["topic"] == "Ansiedad y estrés"
    assert document["group_leader"]["name"] == "Ærøskøbing Ñ."
    assert "🙂".encode() in render_meeting(snapshot, 0)  # UTF-8, not escaped


def test_a_large_id_renders_as_an_exact_integer() -> None:
    document = rendered(meeting(meeting_id=2**63 - 1, meeting_series_id=2**63 - 2))

    assert document["id"] == 2**63 - 1
    assert document["meeting_series_id"] == 2**63 - 2
