"""The read model in Redis: ``RedisReadModel`` applies changes atomically.

Every transition is a Lua script confined to one hash slot (see ``keys``), so
two workers can run at once and the read model stays the same for any order of
the same changes. A batch is applied in three pipelined round trips:

1. meeting transitions (all of one meeting's changes in the batch in one call,
   in batch order), the EAP side of links, the global side of tokens;
2. each meeting's current projection written to its owner (and removed from
   former owners), the HPC side of links, the organization side of tokens;
3. the copies in linked EAP organizations that step 2 named.

Each step re-emits current state rather than a delta, and every write to a
list is ordered by the meeting's revision, so a batch applied twice, or cut
short by a crash and redelivered, leaves the same read model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, assert_never

from events.times import wall_clock_ms
from readmodel.changes import (
    Change,
    EndMeeting,
    IssueToken,
    MeetingChange,
    PlaceMeeting,
    Register,
    RevokeToken,
    SetEapLink,
    Unregister,
)
from readmodel.connections import RedisClient
from readmodel.connections import RedisPipeline as Pipeline
from readmodel.keys import Keyspace, OrgKeys, entry
from readmodel.scripts import Script, ScriptSet

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Retention:
    """How long the state kept only for order-independence lives (README)."""

    ended_ms: int = 7 * DAY_MS  # a meeting's state after it ends
    tombstone_ms: int = 30 * DAY_MS  # canceled/completed meetings, removed list entries
    pending_ms: int = 30 * DAY_MS  # registrations waiting for a meeting's first snapshot
    grace_ms: int = 3_600_000  # state of a meeting already long over when replayed


@dataclass(frozen=True, slots=True)
class Projection:
    """A meeting as its state script returned it."""

    meeting_id: int
    rev: int
    listed: bool
    owner: bytes
    series: bytes
    start: bytes
    end: bytes
    registered_attendees: int
    former_owners: tuple[bytes, ...]
    people: bytes  # members registered or leading, comma-separated
    version: bytes  # of the snapshot applied
    fingerprint: bytes  # of the snapshot applied (``fingerprint``)
    moved: int  # the revision at which the meeting came to its owner (meeting.lua)

    @classmethod
    def parse(cls, meeting_id: int, reply: list[Any]) -> Projection:
        rev, listed, owner, series, start, end, attendees, was, people, version, fp, moved = reply
        return cls(
            meeting_id=meeting_id,
            rev=int(rev),
            listed=int(listed) == 1,
            owner=owner,
            series=series,
            start=start,
            end=end,
            registered_attendees=int(attendees or 0),
            former_owners=tuple(org for org in was.split(b",") if org),
            people=people,
            version=version,
            fingerprint=fp,
            moved=int(moved),
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """What a write of one meeting into an organization's lists carries."""

    entry: str
    key: int  # of the content: 2 * rev + 1 beats every earlier write and removal
    pkey: int  # of the count register (people, registered_attendees); see list_entries.lua
    start: bytes
    end: bytes
    series: bytes
    doc: bytes  # b"": keep the document held, of the same version, with the new count
    people: bytes  # who follows it: members registered or leading
    source: bytes  # the organization that owns the meeting
    version: bytes  # of the snapshot
    registered_attendees: int | bytes

    @classmethod
    def held(cls, m: str, source: bytes, fields: Sequence[Any]) -> Listing:
        """The meeting as an organization holds it (put.lua's and hpc.lua's replies)."""
        key, pkey, start, end, series, doc, people, version, count = fields
        return cls(m, int(key), int(pkey), start, end, series, doc, people, source, version, count)


FollowUp = Callable[[Pipeline, list[Any]], None]
"""Queues step 3's commands, given the replies of the step-2 commands it follows."""


class RedisReadModel:
    """Applies changes to one generation of the read model."""

    def __init__(
        self,
        redis: RedisClient,
        keyspace: Keyspace,
        retention: Retention = Retention(),
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.redis = redis
        self.keyspace = keyspace
        self.retention = retention
        self.clock = clock
        self._meeting = Script("meeting")
        self._put = Script("put", library="list_entries")
        self._remove = Script("remove", library="list_entries")
        self._link = Script("link", library="list_entries")
        self._hpc = Script("hpc", library="list_entries")
        self._token = Script("token")
        self._prune = Script("prune", library="list_entries")
        self._scripts = ScriptSet(
            self._meeting,
            self._put,
            self._remove,
            self._link,
            self._hpc,
            self._token,
            self._prune,
        )

    async def load_scripts(self) -> None:
        """Load every script (again: after a Redis restart or SCRIPT FLUSH)."""
        await self._scripts.load(self.redis)

    async def apply(self, changes: Sequence[Change]) -> None:
        """Apply a batch; idempotent, so a failed batch can simply be applied again."""
        if changes:
            await self._scripts.run(self.redis, partial(self._apply, changes))

    async def _apply(self, changes: Sequence[Change]) -> None:
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        others: list[SetEapLink | IssueToken | RevokeToken] = []  # one call each
        meetings: dict[int, list[Any]] = {}  # each meeting's changes, in batch order
        snapshots: dict[tuple[int, bytes], PlaceMeeting] = {}
        for change in changes:
            if isinstance(change, PlaceMeeting):
                fp = fingerprint(change)
                snapshots[change.meeting_id, fp] = change
                meetings.setdefault(change.meeting_id, []).extend([*_meeting_op(change), fp])
            elif isinstance(change, MeetingChange):
                meetings.setdefault(change.meeting_id, []).extend(_meeting_op(change))
            else:
                others.append(change)
                self._transition(pipe, change)
        r = self.retention
        common = [now, r.ended_ms, r.tombstone_ms, r.pending_ms, r.grace_ms]
        for meeting_id, ops in meetings.items():
            state = self.keyspace.meeting(meeting_id).state
            self._meeting.queue(keys=[state], args=[*common, *ops], pipe=pipe)
        first = await pipe.execute()

        projections = {
            meeting_id: Projection.parse(meeting_id, reply)
            for meeting_id, reply in zip(meetings, first[len(others) :], strict=True)
        }
        links = _latest_links(changes)
        pipe = self.redis.pipeline(transaction=False)
        follow_ups: list[tuple[int, int, FollowUp]] = []

        def queue(step: Callable[[], FollowUp | None]) -> None:
            begin = len(pipe)
            follow_up = step()
            if follow_up is not None:
                follow_ups.append((begin, len(pipe), follow_up))

        for change, reply in zip(others, first[: len(others)], strict=True):
            match change:
                case SetEapLink():
                    if links[change.eap_organization_id, change.hpc_organization_id] is change:
                        queue(partial(self._link_hpc_side, pipe, change, now))
                case IssueToken():
                    if reply == b"1":
                        self._set_token(pipe, change.organization_id, change.token_sha256, True)
                case RevokeToken():
                    for org in reply:
                        self._set_token(pipe, int(org), change.token_sha256, False)
                case _:
                    assert_never(change)
        for projection in projections.values():
            snapshot = snapshots.get((projection.meeting_id, projection.fingerprint))
            queue(partial(self._place, pipe, projection, snapshot, now))
        second = await pipe.execute()

        pipe = self.redis.pipeline(transaction=False)
        for begin, stop, follow_up in follow_ups:
            follow_up(pipe, second[begin:stop])
        if len(pipe):
            await pipe.execute()

    async def prune(self, limit: int = 1000) -> int:
        """Drop ended meetings from every list and expired tombstones."""
        return await self._scripts.run(self.redis, partial(self._prune_all, limit))

    async def _prune_all(self, limit: int) -> int:
        now = self.clock()
        freed = 0
        async for raw in self.redis.sscan_iter(self.keyspace.orgs, count=500):
            org = int(raw)
            keys = self._org(org)
            pipe = self.redis.pipeline(transaction=False)
            self._prune.queue(
                keys=[keys.start, keys.end, keys.doc, keys.meta, keys.gone],
                args=[keys.base, org, now, self.retention.tombstone_ms, limit],
                pipe=pipe,
            )
            (count,) = await pipe.execute()
            freed += int(count)
        return freed

    # -- step 1 -------------------------------------------------------------

    def _transition(self, pipe: Pipeline, change: SetEapLink | IssueToken | RevokeToken) -> None:
        """Queue the step-1 call of a link or token change."""
        match change:
            case SetEapLink():
                keys = self._org(change.eap_organization_id)
                self._link.queue(
                    keys=[
                        keys.start,
                        keys.end,
                        keys.doc,
                        keys.meta,
                        keys.gone,
                        keys.links,
                    ],
                    args=[
                        keys.base,
                        change.eap_organization_id,
                        change.hpc_organization_id,
                        change.version,
                        int(change.linked),
                    ],
                    pipe=pipe,
                )
                return
            case IssueToken():
                self._token.queue(
                    keys=[self.keyspace.token(change.token_sha256)],
                    args=["issue", change.organization_id],
                    pipe=pipe,
                )
                return
            case RevokeToken():
                self._token.queue(
                    keys=[self.keyspace.token(change.token_sha256)],
                    args=["revoke", change.organization_id],
                    pipe=pipe,
                )
                return
            case _:
                assert_never(change)

    # -- step 2 -------------------------------------------------------------

    def _place(
        self, pipe: Pipeline, p: Projection, snapshot: PlaceMeeting | None, now: int
    ) -> FollowUp:
        """Write a meeting to its owner, remove it from former owners; then copies.

        The document goes along when the batch holds the snapshot the meeting's
        state has applied (when it was applied, or when that batch is
        redelivered); otherwise the lists keep theirs with the new count. The
        count and followers are a register of their own, ordered by revision
        apart from the document (``lua/list_entries.lua``): a count that comes before
        its document waits for it. The copies take the meeting as the owner
        holds it after the write, with the owner's two keys.

        A listed meeting left its former owners when it moved, so their
        removals (and their copies') are ordered by that revision: a later
        batch without the document (a registration's) cannot list the meeting
        where it moved until the move's batch writes the document, and its
        removals must not outrank that write. An ended meeting leaves every
        list at its last revision.
        """
        m = entry(p.meeting_id)
        count = p.registered_attendees
        doc = snapshot.head + str(count).encode() + snapshot.tail if snapshot else b""
        key = 2 * p.rev + 1
        listing = Listing(
            m, key, key, p.start, p.end, p.series, doc, p.people, p.owner, p.version, count
        )
        remove_key = 2 * (p.moved if p.listed else p.rev)
        owners = list(p.former_owners)
        if p.owner and not p.listed:
            owners.append(p.owner)
        if p.listed:
            self._put_into(pipe, int(p.owner), listing, now)
            pipe.sadd(self.keyspace.orgs, p.owner)
        for org in owners:
            self._remove_from(pipe, int(org), m, remove_key, now, own=True)

        def copies(pipe: Pipeline, replies: list[Any]) -> None:
            if p.listed:
                put_reply, _added, *replies = replies
                if put_reply:  # the meeting as the owner holds it goes to every copy
                    copy = Listing.held(m, p.owner, put_reply[:9])
                    linked = put_reply[9:]
                    for eap, link in zip(linked[::2], linked[1::2], strict=True):
                        self._put_into(pipe, int(eap), copy, now, link=link)
            for eaps in replies:
                for eap in eaps:
                    self._remove_from(pipe, int(eap), m, remove_key, now, own=False)

        return copies

    def _link_hpc_side(self, pipe: Pipeline, change: SetEapLink, now: int) -> FollowUp:
        hpc = self._org(change.hpc_organization_id)
        self._hpc.queue(
            keys=[hpc.start, hpc.end, hpc.doc, hpc.meta, hpc.eap],
            args=[
                hpc.base,
                change.hpc_organization_id,
                change.eap_organization_id,
                change.version,
                int(change.linked),
            ],
            pipe=pipe,
        )
        pipe.sadd(self.keyspace.orgs, change.eap_organization_id)
        source = str(change.hpc_organization_id).encode()
        version = change.version  # copies are returned only while it is in force

        def copies(pipe: Pipeline, replies: list[Any]) -> None:
            listed = replies[0]
            for i in range(0, len(listed), 10):
                m, *fields = listed[i : i + 10]
                listing = Listing.held(m.decode(), source, fields)
                self._put_into(pipe, change.eap_organization_id, listing, now, link=version)

        return copies

    # -- list writes ----------------------------------------------------------

    def _put_into(
        self, pipe: Pipeline, org: int, listing: Listing, now: int, *, link: bytes | int = b""
    ) -> None:
        """``link``: for a copy, the version of the link it is made under."""
        keys = self._org(org)
        self._put.queue(
            keys=[
                keys.start,
                keys.end,
                keys.doc,
                keys.meta,
                keys.gone,
                keys.links,
                keys.eap,
            ],
            args=[
                keys.base,
                org,
                listing.entry,
                listing.key,
                listing.pkey,
                listing.start,
                listing.end,
                listing.series,
                listing.source,
                listing.doc,
                listing.people,
                listing.version,
                listing.registered_attendees,
                now,
                link,
            ],
            pipe=pipe,
        )

    def _remove_from(
        self, pipe: Pipeline, org: int, m: str, key: int, now: int, *, own: bool
    ) -> None:
        keys = self._org(org)
        self._remove.queue(
            keys=[
                keys.start,
                keys.end,
                keys.doc,
                keys.meta,
                keys.gone,
                keys.eap,
            ],
            args=[keys.base, org, m, key, now, int(own)],
            pipe=pipe,
        )

    def _set_token(self, pipe: Pipeline, org: int, token_sha256: str, issued: bool) -> None:
        self._token.queue(
            keys=[self._org(org).tokens],
            args=["grant" if issued else "deny", token_sha256],
            pipe=pipe,
        )

    def _org(self, organization_id: int) -> OrgKeys:
        return self.keyspace.org(organization_id)


def fingerprint(snapshot: PlaceMeeting) -> bytes:
    """Which snapshot the meeting's state applied, among those of a batch.

    The state keeps no document, so the batch that applied a snapshot writes
    the document it rendered. Its version alone would not tell: a snapshot of a
    version already seen changes nothing (docs/events.md), even one whose content
    differs, and the content must stay that of the first.
    """
    return hashlib.blake2b(snapshot.head + b"\0" + snapshot.tail, digest_size=8).digest()


def _meeting_op(change: MeetingChange) -> list[Any]:
    """A meeting change as ``meeting.lua`` takes it: its op and the op's arguments
    (but a snapshot's fingerprint, which ``_apply`` adds)."""
    match change:
        case PlaceMeeting():
            leaders = ",".join(map(str, sorted(change.leader_ids)))
            series = change.series_id or ""
            return [
                "place",
                change.version,
                change.organization_id,
                series,
                change.start_ms,
                change.end_ms,
                leaders,
            ]
        case EndMeeting():
            return ["end"]
        case Register():
            return ["reg", change.registration_id, change.user_id]
        case Unregister():
            return ["unreg", change.registration_id]
        case _:
            assert_never(change)


def _latest_links(changes: Sequence[Change]) -> dict[tuple[int, int], SetEapLink]:
    """Per (EAP, HPC) pair, the batch's link change of the highest version.

    Only it needs the HPC side (and its copies): an older one changes nothing
    there once the newer is applied.
    """
    latest: dict[tuple[int, int], SetEapLink] = {}
    for change in changes:
        if isinstance(change, SetEapLink):
            pair = (change.eap_organization_id, change.hpc_organization_id)
            if pair not in latest or change.version > latest[pair].version:
                latest[pair] = change
    return latest
