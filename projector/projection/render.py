"""A meeting's document, exactly as the API returns it (docs/decisions.md).

The document is rendered once per snapshot, in two parts around
``registered_attendees`` so that a registration only swaps the number:
``head + str(count) + tail``. The parts are in the form the lists store
(``readmodel.documents``: the JSON with its keys and common values as single
bytes; ``readmodel.documents.expand`` gives the JSON back).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import orjson

from events.models import MeetingSnapshot
from readmodel.documents import DEFAULT_AVATAR, compact

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The document with a placeholder for each value, in the stored form.
_HEAD = compact(
    b'{"id":%d,"name":%b,"start_time":%b,"end_time":%b,"duration":%b,'
    b'"duration_in_minutes":%d,"topic":%b,"description":%b,"location":%b,'
    b'"meeting_series_id":%b,"max_attendees":%d,"registered_attendees":'
)
_TAIL = compact(b',"group_leader":{"id":%d,"name":%b,"avatar":%b}}')


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


@functools.lru_cache(maxsize=16384)
def _time(ms: int) -> bytes:
    return compact(orjson.dumps(format_time(ms)))


@functools.lru_cache(maxsize=16384)  # durations, locations, avatars: few distinct ones
def _compact_string(text: str) -> bytes:
    return compact(orjson.dumps(text))


def render_parts(meeting: MeetingSnapshot) -> tuple[bytes, bytes]:
    """The stored document before and after the ``registered_attendees`` value."""
    minutes = (meeting.end_ms - meeting.start_ms) // 60_000
    leader = meeting.group_leader
    head = _HEAD % (
        meeting.meeting_id,
        orjson.dumps(meeting.name),
        _time(meeting.start_ms),
        _time(meeting.end_ms),
        _compact_string(format_duration(minutes)),
        minutes,
        orjson.dumps(meeting.topic),
        orjson.dumps(meeting.description),
        _compact_string(meeting.location),
        orjson.dumps(meeting.meeting_series_id),
        meeting.max_attendees,
    )
    name = orjson.dumps(leader_name(leader.first_name, leader.last_name))
    tail = _TAIL % (leader.id, name, _compact_string(leader.avatar_url or DEFAULT_AVATAR))
    return head, tail
