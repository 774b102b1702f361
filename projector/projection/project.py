"""What an event changes in the read model: a pure function, no I/O.

``project(event)`` turns each event of the contract into one
``readmodel.changes.Change``.
"""

from __future__ import annotations

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
from projector.projection.render import render_parts
from readmodel.changes import (
    Change,
    EndMeeting,
    IssueToken,
    PlaceMeeting,
    Register,
    RevokeToken,
    SetEapLink,
    Unregister,
)


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
