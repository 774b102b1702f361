"""The source document's example: its two meeting objects, verbatim, and events
that produce them. Tests move its dates to another year (into the future)."""

from __future__ import annotations

import json
from typing import Any

from tests.builders import Event, leader, registration_canceled, registration_created, scheduled

# The two meeting objects of the source document's example, verbatim.
_MEETINGS = """[
    {
      "id": 9123,
      "name": "Morning Grief Support Circle",
      "start_time": "2026-05-23T15:00:00.000Z",
      "end_time": "2026-05-23T16:00:00.000Z",
      "duration": "1 hour",
      "duration_in_minutes": 60,
      "topic": "Grief & Loss",
      "description": "A supportive space to share and process grief.",
      "location": "heypeers",
      "meeting_series_id": 412,
      "max_attendees": 12,
      "registered_attendees": 7,
      "group_leader": {
        "id": 4501,
        "name": "Jane D.",
        "avatar": "https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/4501.png"
      }
    },
    {
      "id": 9124,
      "name": "Evening Recovery Check-in",
      "start_time": "2026-05-24T23:30:00.000Z",
      "end_time": "2026-05-25T00:30:00.000Z",
      "duration": "1 hour",
      "duration_in_minutes": 60,
      "topic": "Substance Use Recovery",
      "description": null,
      "location": "zoom",
      "meeting_series_id": null,
      "max_attendees": 20,
      "registered_attendees": 0,
      "group_leader": {
        "id": 4502,
        "name": "Sam L.",
        "avatar": "https://ssl.gstatic.com/accounts/ui/avatar_2x.png"
      }
    }
]"""


def example_meetings(year: int = 2026) -> list[dict[str, Any]]:
    """The example's meeting objects, as the API must return them."""
    meetings: list[dict[str, Any]] = json.loads(_MEETINGS.replace("2026-", f"{year}-"))
    return meetings


def example_events(year: int = 2026, organization_id: int = 5) -> list[Event]:
    """Events that give exactly ``example_meetings(year)``.

    The second snapshot is written with offsets and a lower-case last name, and
    meeting 9123 has seven members, one registered twice, plus its leader.
    """
    return [
        scheduled(
            9123,
            organization_id,
            1,
            name="Morning Grief Support Circle",
            start_time=f"{year}-05-23T15:00:00.000Z",
            end_time=f"{year}-05-23T16:00:00.000Z",
            topic="Grief & Loss",
            description="A supportive space to share and process grief.",
            location="heypeers",
            meeting_series_id=412,
            max_attendees=12,
            group_leader=leader(4501, "Jane", "Doe"),
        ),
        scheduled(
            9124,
            organization_id,
            1,
            name="Evening Recovery Check-in",
            start_time=f"{year}-05-24T23:30:00.000+00:00",
            end_time=f"{year}-05-25T02:30:00.000+02:00",
            topic="Substance Use Recovery",
            description=None,
            location="zoom",
            meeting_series_id=None,
            max_attendees=20,
            group_leader=leader(4502, "Sam", "lee", None),
        ),
        *(registration_created(n, 9123, 100 + n) for n in range(1, 8)),
        registration_created(8, 9123, 4501),
        registration_created(9, 9123, 101),
        registration_created(10, 9124, 200),
        registration_canceled(10, 9124, 200),
    ]
