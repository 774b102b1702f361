"""What an event changes in the read model: a pure function, no I/O.

``project(event)`` turns each event of the contract into one ``Change``. The
store applies changes; any order of the same changes, with duplicates, gives
the same read model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

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
from projector.render import render_parts


@dataclass(frozen=True, slots=True)
class PlaceMeeting:
    """A snapshot: applied only if ``version`` beats every version seen."""

    meeting_id: int
    version: int
    organization_id: int
    series_id: int | None
    start_ms: int
    end_ms: int
    leader_ids: frozenset[int]
    head: bytes
    tail: bytes


@dataclass(frozen=True, slots=True)
class EndMeeting:
    """Canceled or completed: the meeting is never listed again."""

    meeting_id: int


@dataclass(frozen=True, slots=True)
class Register:
    meeting_id: int
    registration_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class Unregister:
    meeting_id: int
    registration_id: int


@dataclass(frozen=True, slots=True)
class SetEapLink:
    eap_organization_id: int
    hpc_organization_id: int
    version: int
    linked: bool


@dataclass(frozen=True, slots=True)
class IssueToken:
    organization_id: int
    token_sha256: str


@dataclass(frozen=True, slots=True)
class RevokeToken:
    organization_id: int
    token_sha256: str


MeetingChange = PlaceMeeting | EndMeeting | Register | Unregister
Change = MeetingChange | SetEapLink | IssueToken | RevokeToken


def project(event: Event) -> Change:
    """The change one event makes."""
    match event:
        case MeetingScheduled(data=snapshot) | MeetingUpdated(data=snapshot):
            head, tail = render_parts(snapshot)
            return PlaceMeeting(
                meeting_id=snapshot.meeting_id,
                version=snapshot.version,
                organization_id=snapshot.organization_id,
                series_id=snapshot.meeting_series_id,
                start_ms=snapshot.start_ms,
                end_ms=snapshot.end_ms,
                leader_ids=snapshot.leader_ids,
                head=head,
                tail=tail,
            )
        case MeetingCanceled(data=end) | MeetingCompleted(data=end):
            return EndMeeting(end.meeting_id)
        case RegistrationCreated(data=registration):
            return Register(
                registration.meeting_id, registration.registration_id, registration.user_id
            )
        case RegistrationCanceled(data=registration):
            return Unregister(registration.meeting_id, registration.registration_id)
        case EapLinked(data=link) | EapUnlinked(data=link):
            return SetEapLink(
                eap_organization_id=link.organization_id,
                hpc_organization_id=link.hpc_organization_id,
                version=link.version,
                linked=isinstance(event, EapLinked),
            )
        case ApiTokenIssued(data=token):
            return IssueToken(token.organization_id, token.token_sha256)
        case ApiTokenRevoked(data=token):
            return RevokeToken(token.organization_id, token.token_sha256)
        case _:
            assert_never(event)
