"""``InMemoryReadModel``: the read model's rules, stated plainly in Python.

It applies the same changes as ``RedisReadModel`` and answers the same
questions, with none of its machinery (no revisions, no copies, no pruning),
which makes it the reference the Redis model is checked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import assert_never

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
from readmodel.documents import expand

CANCELED = None


@dataclass
class _Meeting:
    snapshot: PlaceMeeting | None = None
    ended: bool = False
    registrations: dict[int, int | None] = field(default_factory=dict)  # id -> user, None canceled

    def registered_users(self) -> set[int]:
        return {user for user in self.registrations.values() if user is not CANCELED}

    def registered_attendees(self) -> int:
        assert self.snapshot is not None
        return len(self.registered_users() - self.snapshot.leader_ids)

    def follows(self, member_id: int) -> bool:
        """Whether the member has an active registration or leads the meeting."""
        assert self.snapshot is not None
        return member_id in self.snapshot.leader_ids or member_id in self.registered_users()

    def document(self) -> bytes:
        """As JSON."""
        assert self.snapshot is not None
        count = str(self.registered_attendees()).encode()
        return expand(self.snapshot.head + count + self.snapshot.tail)


@dataclass(frozen=True, slots=True)
class Page:
    total_items: int
    meetings: list[bytes]


class InMemoryReadModel:
    def __init__(self) -> None:
        self._meetings: dict[int, _Meeting] = {}
        self._links: dict[tuple[int, int], int] = {}  # (eap, hpc) -> +version / -version
        self._token_orgs: dict[str, set[int]] = {}
        self._revoked: set[str] = set()

    def apply(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self._apply(change)

    def _apply(self, change: Change) -> None:
        match change:
            case PlaceMeeting():
                meeting = self._meeting(change.meeting_id)
                current = meeting.snapshot
                if current is None or change.version > current.version:
                    meeting.snapshot = change
            case EndMeeting():
                self._meeting(change.meeting_id).ended = True
            case Register():
                registrations = self._meeting(change.meeting_id).registrations
                registrations.setdefault(change.registration_id, change.user_id)
            case Unregister():
                registrations = self._meeting(change.meeting_id).registrations
                registrations[change.registration_id] = CANCELED
            case SetEapLink():
                pair = (change.eap_organization_id, change.hpc_organization_id)
                if change.version > abs(self._links.get(pair, 0)):
                    self._links[pair] = change.version if change.linked else -change.version
            case IssueToken():
                self._token_orgs.setdefault(change.token_sha256, set()).add(change.organization_id)
            case RevokeToken():
                self._revoked.add(change.token_sha256)
            case _:
                assert_never(change)

    def _meeting(self, meeting_id: int) -> _Meeting:
        return self._meetings.setdefault(meeting_id, _Meeting())

    # -- questions ----------------------------------------------------------

    def token_organizations(self, token_sha256: str) -> set[int]:
        """The organizations a token resolves to (none once revoked)."""
        if token_sha256 in self._revoked:
            return set()
        return set(self._token_orgs.get(token_sha256, ()))

    def organizations(self) -> set[int]:
        """Every organization that owns a meeting or has an EAP link."""
        owners = {m.snapshot.organization_id for m in self._meetings.values() if m.snapshot}
        return owners | {eap for eap, _ in self._links}

    def organizations_listed_by(self, organization_id: int) -> set[int]:
        """The organization and every HPC organization linked to it now."""
        linked = {hpc for (eap, hpc), v in self._links.items() if eap == organization_id and v > 0}
        return {organization_id} | linked

    def upcoming(
        self,
        organization_id: int,
        now_ms: int,
        series_id: int | None = None,
        member_id: int | None = None,
    ) -> list[tuple[int, int, bytes]]:
        """(start, id, document) of the organization's list, in order.

        With ``member_id``, only the meetings that member follows (registered
        or leading): the Member's Upcoming Meetings list.
        """
        owners = self.organizations_listed_by(organization_id)
        rows = []
        for meeting_id, meeting in self._meetings.items():
            s = meeting.snapshot
            if s is None or meeting.ended or s.end_ms <= now_ms or s.organization_id not in owners:
                continue
            if series_id is not None and s.series_id != series_id:
                continue
            if member_id is not None and not meeting.follows(member_id):
                continue
            rows.append((s.start_ms, meeting_id, meeting.document()))
        rows.sort()
        return rows

    def page(
        self,
        organization_id: int,
        now_ms: int,
        offset: int,
        limit: int,
        series_id: int | None = None,
        member_id: int | None = None,
    ) -> Page:
        rows = self.upcoming(organization_id, now_ms, series_id, member_id)
        return Page(len(rows), [doc for _, _, doc in rows[offset : offset + limit]])
