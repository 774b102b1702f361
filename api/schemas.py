"""Models of the responses, for the OpenAPI document only.

The endpoint serves pre-rendered documents and never validates them per
request; these models describe what it returns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GroupLeader(BaseModel):
    id: int = Field(description="The group leader's user id.")
    name: str = Field(description='Display name, first name + last initial ("Jane D.").')
    avatar: str = Field(description="URL of the thumbnail avatar, or the default avatar.")


class Meeting(BaseModel):
    id: int
    name: str
    start_time: str = Field(
        description="ISO 8601, UTC, milliseconds.", examples=["2026-05-23T15:00:00.000Z"]
    )
    end_time: str = Field(description="ISO 8601, UTC, milliseconds.")
    duration: str = Field(examples=["1 hour 30 minutes"])
    duration_in_minutes: int
    topic: str
    description: str | None
    location: Literal["heypeers", "zoom"]
    meeting_series_id: int | None
    max_attendees: int
    registered_attendees: int = Field(description="Registered members, leaders excluded.")
    group_leader: GroupLeader


class UpcomingMeetings(BaseModel):
    current_page: int
    items: int = Field(description="Page size used, after clamping to 1..100.")
    total_items: int
    total_pages: int
    meetings: list[Meeting] = Field(description="Ordered by start_time, then id.")


class ErrorBody(BaseModel):
    error: str


class Health(BaseModel):
    status: str
    generation: str | None = None
