"""The changes the read model's writer applies: plain records, no behaviour.

The projector makes them from events (``projector.projection.project``);
``readmodel.writer.RedisReadModel`` and the in-memory reference model apply
them. Any order of the same changes, with duplicates, gives the same read model.
"""

from __future__ import annotations

from dataclasses import dataclass


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
