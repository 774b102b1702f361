"""A read model of realistic size, loaded straight through ``RedisReadModel``.

``build_dataset`` makes the events of a deployment (as a publisher would send
them, ``tests/builders.py``) and what a benchmark needs to know about it:
organizations whose sizes fall off like a power law (organization 1 is the
largest), meetings spread over the next weeks, most of them weekly series, a
few registrations per meeting, one token per organization, and EAP
organizations each linked to one of the largest HPC organizations.

``load`` decodes and projects them (``events.models.decode_event``,
``projector.projection.project``) and applies the changes in big batches, with no
broker: tokens, then meetings with their registrations, then the EAP links (so
the copies in EAP organizations are made last and their memory can be told
apart), calling back between phases.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from events.models import decode_event
from events.times import wall_clock_ms
from projector.projection.project import project
from readmodel.changes import Change
from readmodel.generations import create_first_generation
from readmodel.writer import RedisReadModel
from tests.builders import (
    MINUTE_MS,
    at,
    eap_linked,
    encode,
    leader,
    registration_created,
    scheduled,
    token_issued,
)

HOUR_MS = 60 * MINUTE_MS
WEEK_MS = 7 * 24 * HOUR_MS
TOPICS = ("Grief & Loss", "Anxiety", "Caregivers", "Recovery", "Parenting", "Veterans")


def token_of(organization_id: int) -> str:
    return f"bench-token-{organization_id}"


@dataclass(frozen=True, slots=True)
class Shape:
    """How big the read model is."""

    organizations: int = 240
    meetings: int = 50_000  # upcoming, in all organizations (EAP copies not counted)
    weeks: int = 8  # meetings start within this many weeks from now
    eap_organizations: int = 3  # the last ones; EAP k links to HPC organization k + 1
    registrations: float = 3.0  # per meeting, on average
    skew: float = 0.9  # organization of rank r holds a share proportional to r^-skew
    seed: int = 1


@dataclass(slots=True)
class Dataset:
    """The events, and what the benchmark needs to know about them."""

    shape: Shape
    tokens: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[list[dict[str, Any]]] = field(default_factory=list)  # scheduled + regs
    links: list[dict[str, Any]] = field(default_factory=list)
    meetings_of: Counter[int] = field(default_factory=Counter)
    series_of: dict[int, tuple[int, int]] = field(default_factory=dict)  # series -> (org, size)
    follows: Counter[tuple[int, int]] = field(default_factory=Counter)  # (org, user) -> meetings
    hpc_of: dict[int, int] = field(default_factory=dict)  # EAP org -> HPC org
    registrations: int = 0

    @property
    def upcoming(self) -> int:
        return sum(self.meetings_of.values())

    @property
    def eap_copies(self) -> int:
        return sum(self.meetings_of[hpc] for hpc in self.hpc_of.values())

    def listed(self, organization_id: int) -> int:
        """How many meetings the organization's list holds, EAP copies included."""
        hpc = self.hpc_of.get(organization_id)
        return self.meetings_of[organization_id] + (self.meetings_of[hpc] if hpc else 0)

    def largest_series(self, organization_id: int) -> tuple[int, int]:
        """The organization's longest series: (series id, meetings)."""
        return max(
            ((s, size) for s, (org, size) in self.series_of.items() if org == organization_id),
            key=lambda pair: (pair[1], -pair[0]),
        )

    def member_with(self, organization_id: int, meetings: int) -> tuple[int, int]:
        """A member of the organization following about ``meetings``: (user, meetings)."""
        return min(
            ((user, n) for (org, user), n in self.follows.items() if org == organization_id),
            key=lambda pair: (abs(pair[1] - meetings), pair[0]),
        )


def sizes(shape: Shape) -> list[int]:
    """Meetings per organization (index 0 is organization 1), summing to ``shape.meetings``."""
    weights = [1 / rank**shape.skew for rank in range(1, shape.organizations + 1)]
    total = sum(weights)
    counts = [max(1, int(shape.meetings * w / total)) for w in weights]
    counts[0] += shape.meetings - sum(counts)
    return counts


def build_dataset(shape: Shape, now_ms: int | None = None) -> Dataset:
    rng = random.Random(shape.seed)
    now = now_ms if now_ms is not None else wall_clock_ms()
    first = (now // (15 * MINUTE_MS) + 5) * 15 * MINUTE_MS  # an hour from now, on a quarter
    data = Dataset(shape)
    ids = {"meeting": 0, "series": 1000, "registration": 0}

    def next_id(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    for org, count in enumerate(sizes(shape), start=1):
        data.tokens.append(token_issued(organization_id=org, token=token_of(org)))
        leaders = [org * 1_000_000 + 900_000 + k for k in range(max(2, count // 40))]
        members = max(10, count)
        left = count
        while left:
            series: int | None = None
            repeats = 1
            if rng.random() < 0.75:
                series, repeats = next_id("series"), min(left, rng.randint(3, shape.weeks))
                data.series_of[series] = (org, repeats)
                begin = first + rng.randrange(0, WEEK_MS // (15 * MINUTE_MS)) * 15 * MINUTE_MS
            else:
                slots = shape.weeks * WEEK_MS // (15 * MINUTE_MS)
                begin = first + rng.randrange(0, slots) * 15 * MINUTE_MS
            minutes = rng.choice([30, 60, 60, 90])
            head = rng.choice(leaders)
            co = rng.sample(leaders, 1) if rng.random() < 0.2 and len(leaders) > 1 else []
            co = [c for c in co if c != head]
            topic = rng.choice(TOPICS)
            for week in range(repeats):
                start = begin + week * WEEK_MS
                meeting_id = next_id("meeting")
                events = [
                    scheduled(
                        meeting_id=meeting_id,
                        organization_id=org,
                        name=f"{topic} circle",
                        topic=topic,
                        meeting_series_id=series,
                        start_time=at(start),
                        end_time=at(start + minutes * MINUTE_MS),
                        max_attendees=rng.choice([8, 12, 20]),
                        group_leader=leader(id=head, first_name="Jane", last_name=f"L{head}"),
                        co_leader_ids=co,
                    )
                ]
                for user in rng.sample(
                    range(1, members + 1), rng.randint(0, round(2 * shape.registrations))
                ):
                    user_id = org * 1_000_000 + user
                    events.append(
                        registration_created(
                            registration_id=next_id("registration"),
                            meeting_id=meeting_id,
                            user_id=user_id,
                        )
                    )
                    data.follows[org, user_id] += 1
                data.registrations += len(events) - 1
                data.meetings.append(events)
                data.meetings_of[org] += 1
            left -= repeats

    for k in range(shape.eap_organizations):
        eap, hpc = shape.organizations - k, k + 1
        data.hpc_of[eap] = hpc
        data.links.append(eap_linked(organization_id=eap, hpc_organization_id=hpc, version=1))
    return data


def changes_of(events: Sequence[dict[str, Any]]) -> list[Change]:
    """What the projector would apply for these events, decoded as from Kafka."""
    return [project(decode_event(encode(event))) for event in events]


def batches(data: Dataset, meetings_per_batch: int) -> Iterator[list[dict[str, Any]]]:
    for begin in range(0, len(data.meetings), meetings_per_batch):
        yield [
            event
            for meeting in data.meetings[begin : begin + meetings_per_batch]
            for event in meeting
        ]


Phase = Callable[[str], Awaitable[None]]


async def load(redis: Redis, prefix: str, data: Dataset, after: Phase) -> None:
    """Serve generation "1" and fill it; ``after(phase)`` runs once each phase is in."""
    keyspace = await create_first_generation(redis, prefix)
    model = RedisReadModel(redis, keyspace)
    await model.load_scripts()
    await after("empty")
    await model.apply(changes_of(data.tokens))
    for events in batches(data, meetings_per_batch=1000):
        await model.apply(changes_of(events))
    await after("meetings")
    await model.apply(changes_of(data.links))
    await after("links")
