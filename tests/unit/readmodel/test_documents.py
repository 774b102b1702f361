"""Stored documents: compact, and expanded back to the very same JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from events import decode_event
from events.models import MeetingSnapshot
from projector.projection.render import format_duration, format_time, leader_name, render_parts
from readmodel.documents import COUNT_AT, DEFAULT_AVATAR, WORDS, compact, expand
from tests.builders import encode, leader, scheduled

ROOT = Path(__file__).resolve().parents[3]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
WORD_TEXT = st.sampled_from([word.decode() for word in WORDS])
TEXT = st.lists(WORD_TEXT | st.text(), max_size=6).map("".join)
MINUTE_MS = 60_000


def meeting(**fields: Any) -> MeetingSnapshot:
    return decode_event(encode(scheduled(**fields))).data  # type: ignore[return-value]


def as_json(snapshot: MeetingSnapshot, count: int) -> bytes:
    """The document as docs/decisions.md has it, rendered with no help from the store's form."""
    minutes = (snapshot.end_ms - snapshot.start_ms) // MINUTE_MS
    lead = snapshot.group_leader
    return orjson.dumps(
        {
            "id": snapshot.meeting_id,
            "name": snapshot.name,
            "start_time": format_time(snapshot.start_ms),
            "end_time": format_time(snapshot.end_ms),
            "duration": format_duration(minutes),
            "duration_in_minutes": minutes,
            "topic": snapshot.topic,
            "description": snapshot.description,
            "location": snapshot.location,
            "meeting_series_id": snapshot.meeting_series_id,
            "max_attendees": snapshot.max_attendees,
            "registered_attendees": count,
            "group_leader": {
                "id": lead.id,
                "name": leader_name(lead.first_name, lead.last_name),
                "avatar": lead.avatar_url or DEFAULT_AVATAR,
            },
        }
    )


@given(JSON | TEXT)
def test_any_json_comes_back_as_it_was(value: object) -> None:
    text = orjson.dumps(value)
    assert expand(compact(text)) == text
    assert expand(text) == text  # plain JSON is left as it is


@given(
    name=TEXT.filter(bool),
    topic=TEXT,
    description=st.none() | TEXT,
    location=st.sampled_from(["heypeers", "zoom"]),
    series=st.none() | st.integers(1, 2**63 - 1),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    minutes=st.integers(1, 3000),
    avatar=st.none() | st.just("") | TEXT,
    first_name=TEXT,
    last_name=TEXT,
    count=st.integers(0, 2**31 - 1),
)
def test_a_stored_document_expands_to_the_documented_json(
    name: str,
    topic: str,
    description: str | None,
    location: str,
    series: int | None,
    start: datetime,
    minutes: int,
    avatar: str | None,
    first_name: str,
    last_name: str,
    count: int,
) -> None:
    start_ms = int(start.timestamp() * 1000)
    snapshot = meeting(
        name=name,
        topic=topic,
        description=description,
        location=location,
        meeting_series_id=series,
        start_time=format_time(start_ms),
        end_time=format_time(start_ms + minutes * MINUTE_MS),
        group_leader=leader(first_name=first_name, last_name=last_name, avatar_url=avatar),
    )
    head, tail = render_parts(snapshot)

    assert expand(head + str(count).encode() + tail) == as_json(snapshot, count)
    assert head.endswith(COUNT_AT) and COUNT_AT not in head[:-1] + tail


def test_a_document_is_stored_in_under_half_its_size() -> None:
    snapshot = meeting(
        meeting_series_id=44,
        group_leader=leader(
            avatar_url="https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/4501.png"
        ),
    )
    head, tail = render_parts(snapshot)
    stored = head + b"3" + tail

    assert len(stored) < 0.5 * len(as_json(snapshot, 3))


def test_the_count_byte_of_the_scripts_is_the_documents() -> None:
    views = (ROOT / "readmodel/lua/list_entries.lua").read_text()
    assert f"local COUNT_AT = '\\{COUNT_AT[0]}'" in views
