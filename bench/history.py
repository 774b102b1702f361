"""A realistic mixed history of Kafka records, as upstream would publish it.

``mixed_history(events)`` makes about ``events`` records of the contract
(``tests/builders.py``), roughly in the order they happen: first a token per
organization and a few EAP links, then meetings' lives interleaved. A meeting
is scheduled, sometimes updated (new time or leader), gets registrations, some
of them canceled, and some meetings are canceled or completed. Organizations'
sizes fall off like a power law, most meetings belong to weekly series, and a
share of records is sent twice (at-least-once publishers). Each record is
``(topic, key, value)`` with the topic and key the contract fixes
(``events.topics``), so publishing needs no decoding.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from events.times import wall_clock_ms
from events.topics import Topics
from tests.builders import (
    MINUTE_MS,
    OCCURRED_AT,
    at,
    canceled,
    completed,
    eap_linked,
    leader,
    scheduled,
    token_issued,
    updated,
)

HOUR_MS = 60 * MINUTE_MS
WEEK_MS = 7 * 24 * HOUR_MS
TOPICS = ("Grief & Loss", "Anxiety", "Caregivers", "Recovery", "Parenting", "Veterans")

# The topic (field of ``Topics``) and key field of each event type (docs/events.md).
ROUTES = {
    "meeting.scheduled": ("meetings", "meeting_id"),
    "meeting.updated": ("meetings", "meeting_id"),
    "meeting.completed": ("meetings", "meeting_id"),
    "meeting.canceled": ("cancellations", "meeting_id"),
    "registration.created": ("registrations", "meeting_id"),
    "registration.canceled": ("registrations", "meeting_id"),
    "organization.eap_linked": ("organizations", "organization_id"),
    "organization.eap_unlinked": ("organizations", "organization_id"),
    "api_token.issued": ("organizations", "organization_id"),
    "api_token.revoked": ("organizations", "organization_id"),
}

Published = tuple[str, bytes, bytes]
"""(topic, key, value) of one record."""


def token_of(organization_id: int) -> str:
    return f"bench-token-{organization_id}"


@dataclass(frozen=True, slots=True)
class HistoryShape:
    organizations: int = 200
    eap_organizations: int = 3  # the last ones; EAP k links to organization k + 1
    registrations: float = 5.0  # per meeting, on average
    unregister_share: float = 0.15  # of registrations, canceled later
    update_share: float = 0.4  # of meetings, updated once (some twice)
    end_share: float = 0.2  # of meetings, canceled or completed
    duplicate_share: float = 0.03  # of records, sent twice
    skew: float = 0.9
    seed: int = 1


def registration(
    rng: random.Random, event_type: str, registration_id: int, meeting_id: int, user_id: int
) -> dict[str, Any]:
    """A registration event (the most common kind), made quickly: a random id."""
    h = f"{rng.getrandbits(128):032x}"
    return {
        "event_id": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}",
        "event_type": event_type,
        "occurred_at": OCCURRED_AT,
        "data": {"registration_id": registration_id, "meeting_id": meeting_id, "user_id": user_id},
    }


def record_of(event: dict[str, Any], topics: Topics) -> Published:
    topic_field, key_field = ROUTES[event["event_type"]]
    return (
        getattr(topics, topic_field),
        str(event["data"][key_field]).encode(),
        json.dumps(event, separators=(",", ":")).encode(),
    )


def meeting_life(
    rng: random.Random,
    shape: HistoryShape,
    meeting_id: int,
    org: int,
    series: int | None,
    start: int,
    next_registration: Iterator[int],
) -> list[dict[str, Any]]:
    """Every event of one meeting, in the order they happen."""
    minutes = rng.choice([30, 60, 60, 90])
    fields: dict[str, Any] = {
        "organization_id": org,
        "meeting_series_id": series,
        "name": f"{rng.choice(TOPICS)} circle",
        "topic": rng.choice(TOPICS),
        "start_time": at(start),
        "end_time": at(start + minutes * MINUTE_MS),
        "max_attendees": rng.choice([8, 12, 20]),
        "group_leader": leader(id=org * 1000 + rng.randrange(40), last_name=f"L{org}"),
        "co_leader_ids": [org * 1000 + 500 + rng.randrange(10)] if rng.random() < 0.2 else [],
    }
    events = [scheduled(meeting_id=meeting_id, version=1, **fields)]
    version = 1
    updates = (rng.random() < shape.update_share) + (rng.random() < shape.update_share / 4)
    registered: list[tuple[int, int]] = []
    for _ in range(rng.randint(0, round(2 * shape.registrations))):
        user = org * 1_000_000 + rng.randrange(1, 2000)
        registration_id = next(next_registration)
        registered.append((registration_id, user))
        events.append(registration(rng, "registration.created", registration_id, meeting_id, user))
        if rng.random() < shape.unregister_share:
            events.append(
                registration(rng, "registration.canceled", registration_id, meeting_id, user)
            )
        if updates and rng.random() < 0.3:
            updates -= 1
            version += rng.randint(1, 2)
            start += rng.choice([-1, 1, 2]) * 30 * MINUTE_MS
            fields["start_time"] = at(start)
            fields["end_time"] = at(start + minutes * MINUTE_MS)
            events.append(updated(meeting_id=meeting_id, version=version, **fields))
    if rng.random() < shape.end_share:
        end = canceled if rng.random() < 0.6 else completed
        events.append(end(meeting_id=meeting_id, organization_id=org, version=version + 1))
    return events


def mixed_history(
    events: int,
    topics: Topics,
    shape: HistoryShape = HistoryShape(),
    now_ms: int | None = None,
    first_id: int = 0,
    head: bool = True,
) -> list[Published]:
    """About ``events`` records (within one meeting's events of it).

    Meeting, series and registration ids start past ``first_id``; without
    ``head``, no tokens and links come first (a history's continuation).
    """
    rng = random.Random(shape.seed + first_id)
    now = now_ms if now_ms is not None else wall_clock_ms()
    soonest = (now // (15 * MINUTE_MS) + 5) * 15 * MINUTE_MS  # an hour from now, on a quarter
    weights = [1 / rank**shape.skew for rank in range(1, shape.organizations + 1)]
    first: list[dict[str, Any]] = []
    if head:
        first += [
            token_issued(organization_id=org, token=token_of(org))
            for org in range(1, shape.organizations + 1)
        ]
        first += [
            eap_linked(
                organization_id=shape.organizations - k, hpc_organization_id=k + 1, version=1
            )
            for k in range(shape.eap_organizations)
        ]
    registrations = iter(range(first_id + 1, 1 << 62))
    lives: list[list[dict[str, Any]]] = []
    produced = len(first)
    meeting_id, series_id = first_id, first_id + 1000
    while produced < events:
        org = rng.choices(range(1, shape.organizations + 1), weights)[0]
        series, repeats = None, 1
        if rng.random() < 0.75:
            series_id += 1
            series, repeats = series_id, rng.randint(3, 8)
        begin = soonest + rng.randrange(0, WEEK_MS // (15 * MINUTE_MS)) * 15 * MINUTE_MS
        for week in range(repeats):
            meeting_id += 1
            life = meeting_life(
                rng, shape, meeting_id, org, series, begin + week * WEEK_MS, registrations
            )
            lives.append(life)
            produced += len(life)
    # Interleave the lives: each meeting's events in order, meetings mixed.
    merged: list[tuple[float, int, int]] = []
    for index, life in enumerate(lives):
        at_s = rng.random()
        for step in range(len(life)):
            merged.append((at_s + step * rng.random() * 0.01, index, step))
    ordered = first + [lives[i][s] for _, i, s in sorted(merged)]
    records = [record_of(event, topics) for event in ordered]
    # Each duplicate is sent again a little later than the original.
    again: dict[int, list[Published]] = {}
    for original in rng.sample(range(len(records)), int(len(records) * shape.duplicate_share)):
        later = min(len(records) - 1, original + rng.randrange(1, 1000))
        again.setdefault(later, []).append(records[original])
    return [r for i, record in enumerate(records) for r in (record, *again.get(i, ()))]
