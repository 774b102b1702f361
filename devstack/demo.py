"""The demo data set the quick start loads: a few organizations, series, an
EAP link, registrations and a demo token, all published as real events."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from events.models import (
    ApiTokenData,
    ApiTokenIssued,
    EapLinkData,
    EapLinked,
    Event,
    GroupLeader,
    MeetingScheduled,
    MeetingSnapshot,
    RegistrationCreated,
    RegistrationData,
)
from events.publisher import KafkaEventPublisher
from events.topics import Topics

DEMO_ORGANIZATION = 5
DEMO_HPC_ORGANIZATION = 900
DEMO_SERIES = 412
DEMO_TOKEN = "demo-token-5"
DEMO_MEMBER = 7001  # registered for two meetings of the series


@dataclass(frozen=True, slots=True)
class Demo:
    organization_id: int
    token: str
    meeting_series_id: int


def _event_id() -> str:
    return str(uuid.uuid4())


def _meeting(
    meeting_id: int,
    organization_id: int,
    name: str,
    start: datetime,
    minutes: int,
    *,
    topic: str,
    description: str | None,
    location: Literal["heypeers", "zoom"],
    series: int | None,
    max_attendees: int,
    leader: GroupLeader,
) -> MeetingScheduled:
    return MeetingScheduled(
        event_id=_event_id(),
        occurred_at=datetime.now(UTC),
        data=MeetingSnapshot(
            meeting_id=meeting_id,
            organization_id=organization_id,
            version=1,
            name=name,
            start_time=start,
            end_time=start + timedelta(minutes=minutes),
            topic=topic,
            description=description,
            location=location,
            meeting_series_id=series,
            max_attendees=max_attendees,
            group_leader=leader,
        ),
    )


def demo_events(now: datetime) -> list[Event]:
    """The demo history, its meetings in the days after ``now``."""
    day = (now + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    jane = GroupLeader(
        id=4501,
        first_name="Jane",
        last_name="Doe",
        avatar_url="https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/4501.png",
    )
    sam = GroupLeader(id=4502, first_name="Sam", last_name="Lee", avatar_url=None)
    ana = GroupLeader(id=4600, first_name="Ana", last_name="", avatar_url=None)
    events: list[Event] = []
    for week in range(4):  # a weekly series
        events.append(
            _meeting(
                9123 + 10 * week,
                DEMO_ORGANIZATION,
                "Morning Grief Support Circle",
                day + timedelta(weeks=week),
                60,
                topic="Grief & Loss",
                description="A supportive space to share and process grief.",
                location="heypeers",
                series=DEMO_SERIES,
                max_attendees=12,
                leader=jane,
            )
        )
    events.append(
        _meeting(
            9124,
            DEMO_ORGANIZATION,
            "Evening Recovery Check-in",
            day + timedelta(hours=8, minutes=30),
            60,
            topic="Substance Use Recovery",
            description=None,
            location="zoom",
            series=None,
            max_attendees=20,
            leader=sam,
        )
    )
    events.append(
        _meeting(
            9500,
            DEMO_HPC_ORGANIZATION,
            "Counseling Drop-in (HPC)",
            day + timedelta(days=2),
            90,
            topic="Stress",
            description="Open counseling hour.",
            location="zoom",
            series=None,
            max_attendees=8,
            leader=ana,
        )
    )
    events.append(
        _meeting(
            9600,
            6,
            "Another organization's meeting",
            day,
            30,
            topic="Other",
            description="",
            location="heypeers",
            series=None,
            max_attendees=5,
            leader=sam,
        )
    )
    registrations = [
        (1, 9123, DEMO_MEMBER),
        (2, 9123, 7002),
        (3, 9123, 7003),
        (4, 9123, 4501),
        (5, 9133, DEMO_MEMBER),
        (6, 9500, 7004),
    ]
    for registration_id, meeting_id, user_id in registrations:
        events.append(
            RegistrationCreated(
                event_id=_event_id(),
                occurred_at=datetime.now(UTC),
                data=RegistrationData(
                    registration_id=registration_id, meeting_id=meeting_id, user_id=user_id
                ),
            )
        )
    events.append(
        EapLinked(
            event_id=_event_id(),
            occurred_at=datetime.now(UTC),
            data=EapLinkData(
                organization_id=DEMO_ORGANIZATION,
                hpc_organization_id=DEMO_HPC_ORGANIZATION,
                version=1,
            ),
        )
    )
    events.append(
        ApiTokenIssued(
            event_id=_event_id(),
            occurred_at=datetime.now(UTC),
            data=ApiTokenData(
                organization_id=DEMO_ORGANIZATION,
                token_sha256=hashlib.sha256(DEMO_TOKEN.encode()).hexdigest(),
            ),
        )
    )
    return events


async def load_demo(bootstrap_servers: str, topic_prefix: str = "") -> Demo:
    """Publish the demo history; returns what a client needs to query it."""
    async with KafkaEventPublisher(
        bootstrap_servers, Topics.with_prefix(topic_prefix)
    ) as publisher:
        await publisher.publish_many(demo_events(datetime.now(UTC)))
    return Demo(DEMO_ORGANIZATION, DEMO_TOKEN, DEMO_SERIES)
