"""The Redis key layout, shared by the projector (writer) and the API (reader).

Every key lives under ``<prefix>:<generation>:`` so a rebuild can fill a new
generation while the API serves the current one. Everything one request or one
atomic transition touches shares a Redis Cluster hash tag:

    {o<org>}  an organization's lists, documents and tokens (one request)
    {m<id>}   a meeting's state and registrations (one meeting transition)

A meeting's ``entry`` in every list (its sorted-set member, its field in the
hashes) is its id's digits after a letter for their number (``e12345``):
short, and sorted as the ids. "Member" means only a user (members' lists).

Organization keys (``OrgKeys``):
    start        zset  entry -> start ms       the organization's list, EAP copies included
    end          zset  entry -> end ms         the same meetings by end, for exact counts
    s:<series>   zset  entry -> start ms       one series of that list
    doc          hash  entry -> meeting JSON   as the API returns it, stored compact
                                           (readmodel/documents.py)
    meta         hash  entry -> "key|series|source|version|people[|pkey|count]"
                       the content's ordering key, series, owner and snapshot
                       version; the count register: the members following it
                       (csv), and pkey/count when the register is ahead of the
                       content (see lua/list_entries.lua)
    gone         zset  entry -> ms removed     tombstones in meta, for pruning
    from:<hpc>   set   entries copied from an HPC organization
    links        hash  hpc org -> +version linked / -version unlinked (EAP side)
    eap          hash  eap org -> +version linked / -version unlinked (HPC side)
    tok          hash  token sha256 -> "1" issued / "0" revoked
    users        hash  member (user id) -> entries   the meetings of the list each
                       member follows (registered or leading), comma-separated
    u:<member>   zset  entry -> start ms       a member's list in layout 1 only (the
                                           members' lists before ``users``)

The organization scripts build some of these keys from the organization's
base themselves (``base .. ':s:' .. series``); ``OrgKeys`` names every one of
them (tests/unit/readmodel/test_keys.py checks the Lua against it).

Meeting keys (``MeetingKeys``): ``state``, one hash: the snapshot's fields
(version, owner, series, times, leaders, revision, terminal flag; no document,
which only the organizations' lists hold), registration id -> user id (or "x"
once canceled; the users with an active one follow the meeting).

Global keys of a generation: ``layout`` (the layout version it was made with,
``LAYOUT``; none: layout 1), ``orgs`` (organizations with a list, for
pruning), ``token:<sha>`` (which organizations a token was issued to, or
revoked), ``{p<i>}:positions`` (hash: how far each Kafka partition is applied
on the node serving that slot, one per node: readmodel/positions.py).

Control keys, outside every generation (``Control``), all in one slot under
``<prefix>:{control}:`` so that a rebuild's swap is one atomic script:
    current            string  the generation the API serves
    building           string  the generation a rebuild is filling, if any
    generations        string  counter: the last generation number handed out
    rebuild:lock       string  the running rebuild's owner (expires unless renewed)
    rebuild:progress   hash    a rebuild's targets and position per partition
    heartbeats         hash    projector worker id -> JSON of its latest state

Rate-limit keys of the API (``RateLimitKeys``), in one slot under ``<prefix>:{rl}:``:
    f:<client>         string  the client's failed authentications in the window
    blocked            zset    client -> ms its block ends
    blocks             channel "<client> <ms>" for each new block

The channel ``<prefix>:positions`` carries every record of positions.
"""

from __future__ import annotations

from dataclasses import dataclass

LAYOUT = 2
"""The layout version of the generations this code makes and writes.

1: generations made before the layout was recorded (they may hold the
members' lists of before ``users``, ``OrgKeys.member_list_layout1``);
2: the same without those (never written since ``users`` exists)."""


def entry(meeting_id: int) -> str:
    """A meeting's entry in the lists: equal start times then sort by id.

    The id's digits after a letter for their number ("a" for 1 digit, "e" for
    5, "s" for 19, a positive signed 64-bit id's most): entries of the same
    score sort by id, and are short.
    """
    digits = str(meeting_id)
    if meeting_id < 1 or len(digits) > 19:
        raise ValueError(f"not a positive 64-bit id: {meeting_id}")
    return chr(ord("a") + len(digits) - 1) + digits


def meeting_id_of(entry: bytes | str) -> int:
    """The meeting id an entry names (``entry``'s inverse)."""
    return int(as_text(entry)[1:])


def as_text(value: bytes | str) -> str:
    """A value read from Redis (bytes, unless a client decodes responses)."""
    return value.decode() if isinstance(value, bytes) else value


ORG_TAG = b"{o"
"""How an organization's hash tag ``{o<org>}`` begins."""


def organization_of(key: bytes) -> int | None:
    """The organization of a key tagged ``{o<org>}``, else None."""
    start = key.find(ORG_TAG)
    if start < 0:
        return None
    end = key.find(b"}", start)
    digits = key[start + 2 : end]
    return int(digits) if end > 0 and digits.isdigit() else None


CONTROL_TAG = "{control}"


def control_key(prefix: str, name: str) -> str:
    return f"{prefix}:{CONTROL_TAG}:{name}"


def current_generation_key(prefix: str) -> str:
    return control_key(prefix, "current")


@dataclass(frozen=True, slots=True)
class Control:
    """Keys that say which generations exist and what operators are doing."""

    prefix: str

    @property
    def current(self) -> str:
        return current_generation_key(self.prefix)

    @property
    def building(self) -> str:
        return control_key(self.prefix, "building")

    @property
    def generations(self) -> str:
        return control_key(self.prefix, "generations")

    @property
    def rebuild_lock(self) -> str:
        return control_key(self.prefix, "rebuild:lock")

    @property
    def rebuild_progress(self) -> str:
        return control_key(self.prefix, "rebuild:progress")

    @property
    def heartbeats(self) -> str:
        return control_key(self.prefix, "heartbeats")

    @property
    def positions_channel(self) -> str:
        """Pub/sub: every record of positions (readmodel/positions.py)."""
        return f"{self.prefix}:positions"

    def keyspace(self, generation: str) -> Keyspace:
        return Keyspace(self.prefix, generation)


@dataclass(frozen=True, slots=True)
class OrgKeys:
    """An organization's keys: ``base`` (``<root>:{o<org>}``), which the
    organization scripts take to build ``series`` and ``copied_from`` keys."""

    base: str

    @property
    def start(self) -> str:
        return f"{self.base}:start"

    @property
    def end(self) -> str:
        return f"{self.base}:end"

    @property
    def doc(self) -> str:
        return f"{self.base}:doc"

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def gone(self) -> str:
        return f"{self.base}:gone"

    @property
    def links(self) -> str:
        return f"{self.base}:links"

    @property
    def eap(self) -> str:
        return f"{self.base}:eap"

    @property
    def tokens(self) -> str:
        return f"{self.base}:tok"

    def series(self, series_id: int | str) -> str:
        return f"{self.base}:s:{series_id}"

    def copied_from(self, hpc_organization_id: int | str) -> str:
        return f"{self.base}:from:{hpc_organization_id}"

    @property
    def users(self) -> str:
        """For each member (user id), the meetings of the list they follow (registered
        or leading), comma-separated entries (``entry``), in no order."""
        return f"{self.base}:users"

    def member_list_layout1(self, member_id: int) -> str:
        """A member's list in a layout-1 generation made before ``users``: a sorted
        set by start. Only the API reads it, and only in layout-1 generations."""
        return f"{self.base}:u:{member_id}"


@dataclass(frozen=True, slots=True)
class MeetingKeys:
    state: str


@dataclass(frozen=True, slots=True)
class Keyspace:
    """The keys of one generation of the read model."""

    prefix: str
    generation: str

    @property
    def root(self) -> str:
        return f"{self.prefix}:{self.generation}"

    def org(self, organization_id: int) -> OrgKeys:
        return OrgKeys(f"{self.root}:{{o{organization_id}}}")

    @property
    def orgs_prefix(self) -> str:
        """What every organization's keys begin with (``<root>:{o``)."""
        return f"{self.root}:{{o"

    def meeting(self, meeting_id: int) -> MeetingKeys:
        return MeetingKeys(f"{self.root}:{{m{meeting_id}}}")

    def token(self, token_sha256: str) -> str:
        return f"{self.root}:token:{token_sha256}"

    @property
    def orgs(self) -> str:
        return f"{self.root}:orgs"

    def positions(self, tag: str) -> str:
        """A node's positions hash; ``tag`` picks a slot that node serves."""
        return f"{self.root}:{{{tag}}}:positions"

    @property
    def layout(self) -> str:
        """The layout version the generation was made with (none: layout 1)."""
        return f"{self.root}:layout"

    @property
    def current(self) -> str:
        return current_generation_key(self.prefix)


@dataclass(frozen=True, slots=True)
class RateLimitKeys:
    """The API's failed-authentication limiter (``api/ratelimit.py``, ``lua/fail.lua``)."""

    prefix: str

    @property
    def blocks_channel(self) -> str:
        return f"{self.prefix}:{{rl}}:blocks"

    @property
    def blocked(self) -> str:
        return f"{self.prefix}:{{rl}}:blocked"

    def failures(self, client: str) -> str:
        return f"{self.prefix}:{{rl}}:f:{client}"
