"""A meeting's JSON document, exactly as the API returns it (decisions.md).

The document is rendered once per snapshot, in two parts around
``registered_attendees`` so that a registration only swaps the number:
``head + str(count) + tail``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import orjson

from events.models import MeetingSnapshot

DEFAULT_AVATAR = "https://ssl.gstatic.com/accounts/ui/avatar_2x.png"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=16384)  # meetings start and end on few distinct times
def format_time(ms: int) -> str:
    """UTC with milliseconds: ``2026-05-23T15:00:00.000Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def format_duration(minutes: int) -> str:
    """Hours then minutes, each left out when zero, singular for 1."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("" if hours == 1 else "s"))
    if rest or not hours:
        parts.append(f"{rest} minute" + ("" if rest == 1 else "s"))
    return " ".join(parts)


def leader_name(first_name: str, last_name: str) -> str:
    """``Jane D.``; the first name alone when the last name is empty."""
    if not last_name:
        return first_name
    return f"{first_name} {last_name[0].upper()}."


def render_parts(meeting: MeetingSnapshot) -> tuple[bytes, bytes]:
    """The document before and after the ``registered_attendees`` value."""
    minutes = (meeting.end_ms - meeting.start_ms) // 60_000
    leader = meeting.group_leader
    before = {
        "id": meeting.meeting_id,
        "name": meeting.name,
        "start_time": format_time(meeting.start_ms),
        "end_time": format_time(meeting.end_ms),
        "duration": format_duration(minutes),
        "duration_in_minutes": minutes,
        "topic": meeting.topic,
        "description": meeting.description,
        "location": meeting.location,
        "meeting_series_id": meeting.meeting_series_id,
        "max_attendees": meeting.max_attendees,
        "registered_attendees": 0,
    }
    after = {
        "id": leader.id,
        "name": leader_name(leader.first_name, leader.last_name),
        "avatar": leader.avatar_url or DEFAULT_AVATAR,
    }
    head = orjson.dumps(before)[: -len(b"0}")]
    tail = b',"group_leader":' + orjson.dumps(after) + b"}"
    return head, tail


def render_meeting(meeting: MeetingSnapshot, registered_attendees: int) -> bytes:
    head, tail = render_parts(meeting)
    return head + str(registered_attendees).encode() + tail
