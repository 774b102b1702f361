"""Valid events of the contract (docs/events.md), as dicts, for tests of every folder.

Each builder returns a complete, valid event as a plain dict, the way a
publisher would write it; keyword arguments override fields of ``data``.
``encode`` turns an event into the bytes of a Kafka record value. Identical
events get identical ``event_id``s, so building an event twice gives a true
duplicate.

    encode(scheduled(meeting_id=9, start_time=at(NOW_MS + HOUR_MS)))
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Event = dict[str, Any]

OCCURRED_AT = "2026-05-01T12:00:00.000Z"
NOW_MS = 1_777_636_800_000  # 2026-05-01T12:00:00.000Z
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

START_TIME = "2026-05-23T15:00:00.000Z"
END_TIME = "2026-05-23T16:00:00.000Z"
AVATAR_URL = "https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/4501.png"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IDS = uuid.UUID("6f1c1f5e-0000-4000-8000-000000000000")


def at(ms: int) -> str:
    """The RFC 3339 UTC timestamp of an epoch-milliseconds instant."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def encode(event: Event) -> bytes:
    return json.dumps(event).encode()


def envelope(event_type: str, data: dict[str, Any], occurred_at: str = OCCURRED_AT) -> Event:
    identity = json.dumps([event_type, data], sort_keys=True)
    return {
        "event_id": str(uuid.uuid5(_IDS, identity)),
        "event_type": event_type,
        "occurred_at": occurred_at,
        "data": data,
    }


def leader(
    id: int = 4501,
    first_name: str = "Jane",
    last_name: str = "Doe",
    avatar_url: str | None = AVATAR_URL,
) -> dict[str, Any]:
    return {"id": id, "first_name": first_name, "last_name": last_name, "avatar_url": avatar_url}


def snapshot(
    meeting_id: int = 1,
    organization_id: int = 5,
    version: int = 1,
    **fields: Any,
) -> dict[str, Any]:
    """The ``data`` of ``meeting.scheduled`` / ``meeting.updated``."""
    data = {
        "meeting_id": meeting_id,
        "organization_id": organization_id,
        "version": version,
        "name": "Morning Grief Support Circle",
        "start_time": START_TIME,
        "end_time": END_TIME,
        "topic": "Grief & Loss",
        "description": "A supportive space to share and process grief.",
        "location": "heypeers",
        "meeting_series_id": 412,
        "max_attendees": 12,
        "group_leader": leader(),
        "co_leader_ids": [],
    }
    data.update(fields)
    return data


def scheduled(
    meeting_id: int = 1, organization_id: int = 5, version: int = 1, **fields: Any
) -> Event:
    return envelope("meeting.scheduled", snapshot(meeting_id, organization_id, version, **fields))


def updated(
    meeting_id: int = 1, organization_id: int = 5, version: int = 2, **fields: Any
) -> Event:
    return envelope("meeting.updated", snapshot(meeting_id, organization_id, version, **fields))


def canceled(
    meeting_id: int = 1, organization_id: int = 5, version: int = 2, **fields: Any
) -> Event:
    data = {
        "meeting_id": meeting_id,
        "organization_id": organization_id,
        "version": version,
        "reason": "The facilitator is ill.",
    }
    data.update(fields)
    return envelope("meeting.canceled", data)


def completed(
    meeting_id: int = 1, organization_id: int = 5, version: int = 2, **fields: Any
) -> Event:
    data = {"meeting_id": meeting_id, "organization_id": organization_id, "version": version}
    data.update(fields)
    return envelope("meeting.completed", data)


def _registration(
    event_type: str, registration_id: int, meeting_id: int, user_id: int, fields: dict[str, Any]
) -> Event:
    data = {"registration_id": registration_id, "meeting_id": meeting_id, "user_id": user_id}
    data.update(fields)
    return envelope(event_type, data)


def registration_created(
    registration_id: int = 1, meeting_id: int = 1, user_id: int = 100, **fields: Any
) -> Event:
    return _registration("registration.created", registration_id, meeting_id, user_id, fields)


def registration_canceled(
    registration_id: int = 1, meeting_id: int = 1, user_id: int = 100, **fields: Any
) -> Event:
    return _registration("registration.canceled", registration_id, meeting_id, user_id, fields)


def _link(
    event_type: str,
    organization_id: int,
    hpc_organization_id: int,
    version: int,
    fields: dict[str, Any],
) -> Event:
    data = {
        "organization_id": organization_id,
        "hpc_organization_id": hpc_organization_id,
        "version": version,
    }
    data.update(fields)
    return envelope(event_type, data)


def eap_linked(
    organization_id: int = 5, hpc_organization_id: int = 6, version: int = 1, **fields: Any
) -> Event:
    return _link("organization.eap_linked", organization_id, hpc_organization_id, version, fields)


def eap_unlinked(
    organization_id: int = 5, hpc_organization_id: int = 6, version: int = 2, **fields: Any
) -> Event:
    return _link("organization.eap_unlinked", organization_id, hpc_organization_id, version, fields)


def token_issued(organization_id: int = 5, token: str = "s3cret-token", **fields: Any) -> Event:
    data = {"organization_id": organization_id, "token_sha256": sha256_hex(token)}
    data.update(fields)
    return envelope("api_token.issued", data)


def token_revoked(organization_id: int = 5, token: str = "s3cret-token", **fields: Any) -> Event:
    data = {"organization_id": organization_id, "token_sha256": sha256_hex(token)}
    data.update(fields)
    return envelope("api_token.revoked", data)


BUILDERS: dict[str, Callable[..., Event]] = {
    "meeting.scheduled": scheduled,
    "meeting.updated": updated,
    "meeting.completed": completed,
    "meeting.canceled": canceled,
    "registration.created": registration_created,
    "registration.canceled": registration_canceled,
    "organization.eap_linked": eap_linked,
    "organization.eap_unlinked": eap_unlinked,
    "api_token.issued": token_issued,
    "api_token.revoked": token_revoked,
}
"""The builder of each event type, by type: ``BUILDERS[event_type]()`` is a valid example."""
