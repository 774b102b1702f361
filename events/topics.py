"""Topic names and record keys, as the contract fixes them."""

from __future__ import annotations

from dataclasses import dataclass

from events.models import (
    ApiTokenIssued,
    ApiTokenRevoked,
    EapLinked,
    EapUnlinked,
    Event,
    MeetingCanceled,
    MeetingCompleted,
    MeetingScheduled,
    MeetingUpdated,
    RegistrationCanceled,
    RegistrationCreated,
)


@dataclass(frozen=True, slots=True)
class Topics:
    """The four source topics; ``prefix`` namespaces them (tests, staging)."""

    meetings: str = "meeting-events"
    registrations: str = "registration-events"
    cancellations: str = "cancellation-events"
    organizations: str = "organization-events"

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        default = cls()
        return cls(*(prefix + name for name in default.names()))

    def names(self) -> tuple[str, str, str, str]:
        return (self.meetings, self.registrations, self.cancellations, self.organizations)

    def dead_letters(self) -> tuple[str, ...]:
        return tuple(dlq_topic(name) for name in self.names())

    def for_event(self, event: Event) -> str:
        """The topic an event is published on."""
        match event:
            case MeetingScheduled() | MeetingUpdated() | MeetingCompleted():
                return self.meetings
            case RegistrationCreated() | RegistrationCanceled():
                return self.registrations
            case MeetingCanceled():
                return self.cancellations
            case EapLinked() | EapUnlinked() | ApiTokenIssued() | ApiTokenRevoked():
                return self.organizations


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of a source topic."""
    return f"{topic}.dlq"


def event_key(event: Event) -> bytes:
    """The record key: the meeting id on meeting topics, else the organization id."""
    match event:
        case (
            MeetingScheduled()
            | MeetingUpdated()
            | MeetingCompleted()
            | MeetingCanceled()
            | RegistrationCreated()
            | RegistrationCanceled()
        ):
            return str(event.data.meeting_id).encode()
        case EapLinked() | EapUnlinked() | ApiTokenIssued() | ApiTokenRevoked():
            return str(event.data.organization_id).encode()
