"""Frozen pydantic models of every event in docs/events.md, joined in one union.

Types are strict JSON types (an integer field takes a JSON integer only), every
rule of the contract is enforced, and unknown fields are ignored. Timestamps
must carry an offset; they are truncated to the millisecond when read.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from events.errors import InvalidEvent
from events.times import epoch_ms

# Identifiers are positive and fit a signed 64-bit integer, like the database
# ids they come from.
Id = Annotated[int, Field(gt=0, le=2**63 - 1)]
Version = Annotated[int, Field(ge=1, le=2**53 - 1)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


# -- payloads ---------------------------------------------------------------


class GroupLeader(_Frozen):
    id: Id
    first_name: str
    last_name: str
    avatar_url: str | None


class MeetingSnapshot(_Frozen):
    """A full snapshot of a meeting (``meeting.scheduled``, ``meeting.updated``)."""

    meeting_id: Id
    organization_id: Id
    version: Version
    name: Annotated[str, Field(min_length=1)]
    start_time: AwareDatetime
    end_time: AwareDatetime
    topic: str
    description: str | None
    location: Literal["heypeers", "zoom"]
    meeting_series_id: Id | None
    max_attendees: Count
    group_leader: GroupLeader
    co_leader_ids: tuple[Id, ...] = ()

    # Cached: the validator below reads them, then projecting and rendering do.
    @cached_property
    def start_ms(self) -> int:
        return epoch_ms(self.start_time)

    @cached_property
    def end_ms(self) -> int:
        return epoch_ms(self.end_time)

    @property
    def leader_ids(self) -> frozenset[int]:
        return frozenset((self.group_leader.id, *self.co_leader_ids))

    @model_validator(mode="after")
    def _ends_after_start(self) -> MeetingSnapshot:
        if self.end_ms <= self.start_ms:
            raise ValueError("end_time must be later than start_time")
        return self


class MeetingEnd(_Frozen):
    """The end of a meeting's life (``meeting.canceled``, ``meeting.completed``)."""

    meeting_id: Id
    organization_id: Id
    version: Version


class CancellationData(MeetingEnd):
    reason: str | None = None  # optional: absent is fine, null is not

    @field_validator("reason", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("reason may be left out but not null")
        return value


class RegistrationData(_Frozen):
    registration_id: Id
    meeting_id: Id
    user_id: Id


class EapLinkData(_Frozen):
    organization_id: Id
    hpc_organization_id: Id
    version: Version


class ApiTokenData(_Frozen):
    organization_id: Id
    token_sha256: Sha256Hex


# -- envelopes --------------------------------------------------------------


class _Envelope(_Frozen):
    event_id: Annotated[str, Field(min_length=1)]
    occurred_at: AwareDatetime


class MeetingScheduled(_Envelope):
    event_type: Literal["meeting.scheduled"] = "meeting.scheduled"
    data: MeetingSnapshot


class MeetingUpdated(_Envelope):
    event_type: Literal["meeting.updated"] = "meeting.updated"
    data: MeetingSnapshot


class MeetingCompleted(_Envelope):
    event_type: Literal["meeting.completed"] = "meeting.completed"
    data: MeetingEnd


class MeetingCanceled(_Envelope):
    event_type: Literal["meeting.canceled"] = "meeting.canceled"
    data: CancellationData


class RegistrationCreated(_Envelope):
    event_type: Literal["registration.created"] = "registration.created"
    data: RegistrationData


class RegistrationCanceled(_Envelope):
    event_type: Literal["registration.canceled"] = "registration.canceled"
    data: RegistrationData


class EapLinked(_Envelope):
    event_type: Literal["organization.eap_linked"] = "organization.eap_linked"
    data: EapLinkData


class EapUnlinked(_Envelope):
    event_type: Literal["organization.eap_unlinked"] = "organization.eap_unlinked"
    data: EapLinkData


class ApiTokenIssued(_Envelope):
    event_type: Literal["api_token.issued"] = "api_token.issued"
    data: ApiTokenData


class ApiTokenRevoked(_Envelope):
    event_type: Literal["api_token.revoked"] = "api_token.revoked"
    data: ApiTokenData


Event = Annotated[
    MeetingScheduled
    | MeetingUpdated
    | MeetingCompleted
    | MeetingCanceled
    | RegistrationCreated
    | RegistrationCanceled
    | EapLinked
    | EapUnlinked
    | ApiTokenIssued
    | ApiTokenRevoked,
    Field(discriminator="event_type"),
]

EVENT_TYPES: tuple[type[_Envelope], ...] = (
    MeetingScheduled,
    MeetingUpdated,
    MeetingCompleted,
    MeetingCanceled,
    RegistrationCreated,
    RegistrationCanceled,
    EapLinked,
    EapUnlinked,
    ApiTokenIssued,
    ApiTokenRevoked,
)

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
# Its core validator, called directly: ``TypeAdapter.validate_json`` only wraps
# it in a Python call that checks options this module does not pass.
_validate_json = _EVENT.validator.validate_json


def decode_event(raw: bytes | str) -> Event:
    """Validate one Kafka record value; raise ``InvalidEvent`` with the reason."""
    try:
        event: Event = _validate_json(raw)
        return event
    except ValidationError as exc:
        raise InvalidEvent(describe(exc), _kind(exc)) from exc


def _kind(exc: ValidationError) -> str:
    types = {error["type"] for error in exc.errors(include_url=False)}
    if "json_invalid" in types:
        return "invalid_json"
    if types & {"union_tag_invalid", "union_tag_not_found"}:
        return "unknown_event_type"
    return "broken_rule"


def describe(exc: ValidationError) -> str:
    """One line naming each broken rule and where it is, for humans."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)
