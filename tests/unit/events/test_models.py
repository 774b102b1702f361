"""events.models: decoding record values into events (docs/events.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from events import (
    ApiTokenIssued,
    ApiTokenRevoked,
    EapLinked,
    EapUnlinked,
    InvalidEvent,
    MeetingCanceled,
    MeetingCompleted,
    MeetingScheduled,
    MeetingUpdated,
    RegistrationCanceled,
    RegistrationCreated,
    decode_event,
)
from events.models import Event as EventUnion
from events.models import GroupLeader, describe
from tests.builders import (
    AVATAR_URL,
    BUILDERS,
    Event,
    canceled,
    completed,
    eap_linked,
    eap_unlinked,
    encode,
    leader,
    registration_canceled,
    registration_created,
    scheduled,
    sha256_hex,
    token_issued,
    token_revoked,
    updated,
)

HASH = sha256_hex("s3cret-token")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


# -- each type decodes --------------------------------------------------------


def test_meeting_scheduled_decodes_every_field() -> None:
    event = decode_event(
        encode(
            scheduled(
                meeting_id=9123,
                organization_id=5,
                version=3,
                co_leader_ids=[4502, 4503],
            )
        )
    )

    assert isinstance(event, MeetingScheduled)
    assert event.event_type == "meeting.scheduled"
    assert event.occurred_at == datetime(2026, 5, 1, 12, tzinfo=UTC)
    data = event.data
    assert (data.meeting_id, data.organization_id, data.version) == (9123, 5, 3)
    assert data.name == "Morning Grief Support Circle"
    assert data.start_ms == ms("2026-05-23T15:00:00+00:00")
    assert data.end_ms == ms("2026-05-23T16:00:00+00:00")
    assert data.topic == "Grief & Loss"
    assert data.description == "A supportive space to share and process grief."
    assert data.location == "heypeers"
    assert data.meeting_series_id == 412
    assert data.max_attendees == 12
    assert data.group_leader == GroupLeader(
        id=4501, first_name="Jane", last_name="Doe", avatar_url=AVATAR_URL
    )
    assert data.co_leader_ids == (4502, 4503)
    assert data.leader_ids == {4501, 4502, 4503}


def test_meeting_updated_decodes_as_a_snapshot() -> None:
    event = decode_event(encode(updated(meeting_id=7, version=4, location="zoom")))

    assert isinstance(event, MeetingUpdated)
    assert (event.data.meeting_id, event.data.version, event.data.location) == (7, 4, "zoom")


def test_meeting_canceled_decodes_with_and_without_reason() -> None:
    with_reason = decode_event(encode(canceled(meeting_id=7, organization_id=5, version=3)))
    no_reason = canceled(meeting_id=7)
    del no_reason["data"]["reason"]

    assert isinstance(with_reason, MeetingCanceled)
    assert (with_reason.data.meeting_id, with_reason.data.organization_id) == (7, 5)
    assert with_reason.data.version == 3
    assert with_reason.data.reason == "The facilitator is ill."
    assert decode_event(encode(no_reason)).data.reason is None  # type: ignore[union-attr]


def test_meeting_completed_decodes() -> None:
    event = decode_event(encode(completed(meeting_id=7, organization_id=5, version=3)))

    assert isinstance(event, MeetingCompleted)
    assert (event.data.meeting_id, event.data.organization_id, event.data.version) == (7, 5, 3)


@pytest.mark.parametrize(
    ("build", "kind"),
    [(registration_created, RegistrationCreated), (registration_canceled, RegistrationCanceled)],
)
def test_registration_events_decode(build: Any, kind: type) -> None:
    event = decode_event(encode(build(registration_id=31, meeting_id=7, user_id=100)))

    assert isinstance(event, kind)
    assert (event.data.registration_id, event.data.meeting_id, event.data.user_id) == (31, 7, 100)


@pytest.mark.parametrize(("build", "kind"), [(eap_linked, EapLinked), (eap_unlinked, EapUnlinked)])
def test_eap_link_events_decode(build: Any, kind: type) -> None:
    event = decode_event(encode(build(organization_id=5, hpc_organization_id=6, version=2)))

    assert isinstance(event, kind)
    assert (event.data.organization_id, event.data.hpc_organization_id) == (5, 6)
    assert event.data.version == 2


@pytest.mark.parametrize(
    ("build", "kind"), [(token_issued, ApiTokenIssued), (token_revoked, ApiTokenRevoked)]
)
def test_api_token_events_decode(build: Any, kind: type) -> None:
    event = decode_event(encode(build(organization_id=5)))

    assert isinstance(event, kind)
    assert (event.data.organization_id, event.data.token_sha256) == (5, HASH)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_decodes_from_str_and_bytes_alike(event_type: str) -> None:
    raw = encode(BUILDERS[event_type]())

    assert decode_event(raw) == decode_event(raw.decode())
    assert decode_event(raw).event_type == event_type


# -- rejections ---------------------------------------------------------------


def with_data(event: Event, path: str, value: Any) -> Event:
    """A copy of ``event`` with ``data.<path>`` (dotted) set to ``value``."""
    changed = copy.deepcopy(event)
    *parents, last = path.split(".")
    target = changed["data"]
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value
    return changed


def rejected(raw: bytes | str) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (b"{", "JSON"),
        (b"", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"{'event_id': 'x'}", "JSON"),
        (b"[]", "object"),
        (b'"meeting.scheduled"', "object"),
        (b"5", "object"),
        (b"null", "object"),
    ],
    ids=["truncated", "empty", "not-utf8", "single-quotes", "array", "string", "number", "null"],
)
def test_rejects_what_is_not_a_json_object(raw: bytes, named: str) -> None:
    assert named in rejected(raw)


def without(event: Event, field: str) -> Event:
    changed = copy.deepcopy(event)
    del changed[field]
    return changed


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({**scheduled(), "event_type": "meeting.rescheduled"}, "event_type"),
        ({**scheduled(), "event_type": "Meeting.Scheduled"}, "event_type"),
        ({**scheduled(), "event_type": None}, "event_type"),
        (without(scheduled(), "event_type"), "event_type"),
        (without(scheduled(), "event_id"), "event_id"),
        ({**scheduled(), "event_id": ""}, "event_id"),
        ({**scheduled(), "event_id": 17}, "event_id"),
        (without(scheduled(), "occurred_at"), "occurred_at"),
        ({**scheduled(), "occurred_at": "2026-05-01T12:00:00"}, "occurred_at"),
        ({**scheduled(), "occurred_at": "yesterday"}, "occurred_at"),
        (without(scheduled(), "data"), "data"),
        ({**scheduled(), "data": []}, "data"),
    ],
    ids=[
        "unknown-type",
        "type-case",
        "null-type",
        "missing-type",
        "missing-event_id",
        "empty-event_id",
        "integer-event_id",
        "missing-occurred_at",
        "naive-occurred_at",
        "garbage-occurred_at",
        "missing-data",
        "data-not-object",
    ],
)
def test_rejects_a_bad_envelope(event: Event, named: str) -> None:
    assert named in rejected(encode(event))


# Every integer field of every event, with where it sits in ``data``.
INTEGER_FIELDS = [
    ("meeting.scheduled", "meeting_id"),
    ("meeting.scheduled", "organization_id"),
    ("meeting.scheduled", "version"),
    ("meeting.scheduled", "meeting_series_id"),
    ("meeting.scheduled", "max_attendees"),
    ("meeting.scheduled", "group_leader.id"),
    ("meeting.updated", "version"),
    ("meeting.canceled", "meeting_id"),
    ("meeting.canceled", "organization_id"),
    ("meeting.canceled", "version"),
    ("meeting.completed", "meeting_id"),
    ("meeting.completed", "organization_id"),
    ("meeting.completed", "version"),
    ("registration.created", "registration_id"),
    ("registration.created", "meeting_id"),
    ("registration.created", "user_id"),
    ("registration.canceled", "registration_id"),
    ("registration.canceled", "meeting_id"),
    ("registration.canceled", "user_id"),
    ("organization.eap_linked", "organization_id"),
    ("organization.eap_linked", "hpc_organization_id"),
    ("organization.eap_linked", "version"),
    ("organization.eap_unlinked", "organization_id"),
    ("organization.eap_unlinked", "hpc_organization_id"),
    ("organization.eap_unlinked", "version"),
    ("api_token.issued", "organization_id"),
    ("api_token.revoked", "organization_id"),
]


@pytest.mark.parametrize("value", ["5", 5.0, True, [5], {"id": 5}], ids=repr)
@pytest.mark.parametrize(("event_type", "field"), INTEGER_FIELDS)
def test_integer_fields_take_json_integers_only(event_type: str, field: str, value: Any) -> None:
    event = with_data(BUILDERS[event_type](), field, value)

    assert f"data.{field}" in rejected(encode(event))


@pytest.mark.parametrize(("event_type", "field"), INTEGER_FIELDS)
def test_integer_fields_are_required(event_type: str, field: str) -> None:
    event = copy.deepcopy(BUILDERS[event_type]())
    *parents, last = field.split(".")
    target = event["data"]
    for part in parents:
        target = target[part]
    del target[last]

    assert f"data.{field}" in rejected(encode(event))


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        (event_type, field)
        for event_type, field in INTEGER_FIELDS
        if field not in ("version", "max_attendees")
    ],
)
@pytest.mark.parametrize("value", [0, -1])
def test_ids_are_positive(event_type: str, field: str, value: int) -> None:
    event = with_data(BUILDERS[event_type](), field, value)

    assert f"data.{field}" in rejected(encode(event))


@pytest.mark.parametrize(
    "event_type",
    [
        "meeting.scheduled",
        "meeting.updated",
        "meeting.canceled",
        "meeting.completed",
        "organization.eap_linked",
        "organization.eap_unlinked",
    ],
)
def test_version_zero_is_rejected(event_type: str) -> None:
    assert "data.version" in rejected(encode(with_data(BUILDERS[event_type](), "version", 0)))


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("end_time", "2026-05-23T15:00:00.000Z", "end_time"),
        ("end_time", "2026-05-23T14:59:59.999Z", "end_time"),
        ("end_time", "2026-05-23T17:00:00.000+02:00", "end_time"),  # 15:00Z: same instant
        ("start_time", "2026-05-23T15:00:00", "start_time"),
        ("end_time", "2026-05-23T16:00:00", "end_time"),
        ("start_time", "2026-05-23", "start_time"),
        ("start_time", 1_779_548_400_000, "start_time"),
        ("start_time", None, "start_time"),
        ("location", "teams", "location"),
        ("location", "Zoom", "location"),
        ("location", None, "location"),
        ("name", "", "name"),
        ("name", None, "name"),
        ("name", 5, "name"),
        ("topic", None, "topic"),
        ("topic", 5, "topic"),
        ("description", 5, "description"),
        ("max_attendees", -1, "max_attendees"),
        ("meeting_series_id", 0, "meeting_series_id"),
        ("meeting_series_id", "412", "meeting_series_id"),
        ("group_leader", None, "group_leader"),
        ("group_leader.id", 0, "group_leader.id"),
        ("group_leader.first_name", None, "group_leader.first_name"),
        ("group_leader.last_name", None, "group_leader.last_name"),
        ("group_leader.avatar_url", 5, "group_leader.avatar_url"),
        ("co_leader_ids", ["1"], "co_leader_ids"),
        ("co_leader_ids", [0], "co_leader_ids"),
        ("co_leader_ids", [True], "co_leader_ids"),
        ("co_leader_ids", None, "co_leader_ids"),
        ("co_leader_ids", 4502, "co_leader_ids"),
    ],
)
def test_rejects_a_snapshot_breaking_a_rule(field: str, value: Any, named: str) -> None:
    assert named in rejected(encode(with_data(scheduled(), field, value)))


@pytest.mark.parametrize(
    "field",
    [
        "meeting_id",
        "organization_id",
        "version",
        "name",
        "start_time",
        "end_time",
        "topic",
        "description",
        "location",
        "meeting_series_id",
        "max_attendees",
        "group_leader",
    ],
)
def test_every_snapshot_field_but_co_leader_ids_is_required(field: str) -> None:
    event = scheduled()
    del event["data"][field]

    assert f"data.{field}" in rejected(encode(event))


@pytest.mark.parametrize("field", ["id", "first_name", "last_name", "avatar_url"])
def test_every_group_leader_field_is_required(field: str) -> None:
    event = scheduled()
    del event["data"]["group_leader"][field]

    assert f"group_leader.{field}" in rejected(encode(event))


@pytest.mark.parametrize(
    "token_sha256",
    [
        HASH.upper(),
        HASH[:-1],
        HASH + "0",
        "g" * 64,
        HASH[:-1] + "\n",
        "",
        None,
    ],
    ids=["uppercase", "63-chars", "65-chars", "non-hex", "newline", "empty", "null"],
)
@pytest.mark.parametrize("build", [token_issued, token_revoked])
def test_rejects_a_token_hash_that_is_not_lowercase_hex_sha256(
    build: Any, token_sha256: Any
) -> None:
    assert "token_sha256" in rejected(encode(build(token_sha256=token_sha256)))


@pytest.mark.parametrize("field", ["meeting_id", "organization_id", "version"])
def test_canceled_and_completed_require_their_fields(field: str) -> None:
    for build in (canceled, completed):
        event = build()
        del event["data"][field]
        assert f"data.{field}" in rejected(encode(event))


def test_canceled_reason_must_be_a_string() -> None:
    assert "data.reason" in rejected(encode(canceled(reason=5)))


def test_reason_names_every_broken_rule() -> None:
    reason = rejected(encode(scheduled(meeting_id=0, location="teams")))

    assert "data.meeting_id" in reason
    assert "data.location" in reason


# -- acceptance ---------------------------------------------------------------


def test_ignores_unknown_fields_in_envelope_and_data() -> None:
    event = scheduled(color="blue", group_leader={**leader(), "pronouns": "she/her"})
    event["schema_version"] = 1
    event["headers"] = {"trace": "abc"}

    decoded = decode_event(encode(event))

    assert decoded.data == decode_event(encode(scheduled())).data
    assert decoded.event_id == event["event_id"]


def test_description_and_avatar_may_be_null() -> None:
    data = decode_event(encode(scheduled(description=None, group_leader=leader(avatar_url=None))))

    assert data.data.description is None  # type: ignore[union-attr]
    assert data.data.group_leader.avatar_url is None  # type: ignore[union-attr]


def test_meeting_series_id_null_is_a_one_off() -> None:
    event = decode_event(encode(scheduled(meeting_series_id=None)))

    assert event.data.meeting_series_id is None  # type: ignore[union-attr]


def test_co_leader_ids_are_optional() -> None:
    event = scheduled()
    del event["data"]["co_leader_ids"]

    decoded = decode_event(encode(event))

    assert decoded.data.co_leader_ids == ()  # type: ignore[union-attr]
    assert decoded.data.leader_ids == {4501}  # type: ignore[union-attr]


def test_empty_strings_are_kept_where_allowed() -> None:
    event = decode_event(
        encode(
            scheduled(
                topic="",
                description="",
                group_leader=leader(first_name="", last_name="", avatar_url=""),
            )
        )
    )

    data = event.data
    assert (data.topic, data.description) == ("", "")  # type: ignore[union-attr]
    assert data.group_leader.avatar_url == ""  # type: ignore[union-attr]


def test_max_attendees_zero_is_allowed() -> None:
    assert decode_event(encode(scheduled(max_attendees=0))).data.max_attendees == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-05-23T17:00:00.000+02:00", "2026-05-23T15:00:00+00:00"),
        ("2026-05-23T10:30:00-04:30", "2026-05-23T15:00:00+00:00"),
        ("2026-05-24T01:00:00+10:00", "2026-05-23T15:00:00+00:00"),
        ("2026-05-23T15:00:00Z", "2026-05-23T15:00:00+00:00"),
        ("2026-05-23T15:00:00+00:00", "2026-05-23T15:00:00+00:00"),
    ],
)
def test_timestamps_with_an_offset_convert_to_the_same_instant(text: str, utc: str) -> None:
    event = decode_event(encode(scheduled(start_time=text, end_time="2026-05-23T16:00:00Z")))

    assert event.data.start_ms == ms(utc)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fraction", "millis"),
    [
        ("", 0),
        (".1", 100),
        (".12", 120),
        (".123", 123),
        (".123999", 123),
        (".999999", 999),
        (".0009", 0),
        (".123456789", 123),
    ],
)
def test_finer_than_a_millisecond_is_truncated(fraction: str, millis: int) -> None:
    event = decode_event(encode(scheduled(start_time=f"2026-05-23T15:00:00{fraction}Z")))

    assert event.data.start_ms == ms("2026-05-23T15:00:00+00:00") + millis  # type: ignore[union-attr]


def test_truncation_applies_to_offset_timestamps_too() -> None:
    event = decode_event(
        encode(
            scheduled(
                start_time="2026-05-23T16:59:59.9999+02:00",
                end_time="2026-05-23T16:00:00Z",
            )
        )
    )

    assert event.data.start_ms == ms("2026-05-23T14:59:59.999+00:00")  # type: ignore[union-attr]


def test_a_meeting_one_millisecond_long_is_valid() -> None:
    event = decode_event(
        encode(
            scheduled(
                start_time="2026-05-23T15:00:00.000Z",
                end_time="2026-05-23T15:00:00.001Z",
            )
        )
    )

    assert event.data.end_ms - event.data.start_ms == 1  # type: ignore[union-attr]


def test_end_equal_to_start_after_truncation_is_rejected() -> None:
    event = scheduled(start_time="2026-05-23T15:00:00.0001Z", end_time="2026-05-23T15:00:00.0009Z")

    assert "end_time" in rejected(encode(event))


def test_a_known_type_decodes_whatever_topic_it_came_from() -> None:
    # decode_event sees only the value: a meeting.canceled is one even when
    # published on meeting-events, and a snapshot on organization-events.
    assert isinstance(decode_event(encode(canceled())), MeetingCanceled)
    assert isinstance(decode_event(encode(scheduled())), MeetingScheduled)


def test_events_are_frozen() -> None:
    event = decode_event(encode(scheduled()))

    with pytest.raises(ValueError, match="frozen"):
        event.data.name = "other"  # type: ignore[misc, union-attr]


def test_unicode_strings_survive() -> None:
    event = decode_event(encode(scheduled(name="Ünïcødé ✓ 会議 🙂")))

    assert event.data.name == "Ünïcødé ✓ 会議 🙂"  # type: ignore[union-attr]


def test_a_cancellation_reason_may_be_left_out_but_not_null() -> None:
    event = canceled(meeting_id=3)
    event["data"].pop("reason", None)
    assert decode_event(json.dumps(event)).data.reason is None  # type: ignore[union-attr]

    event["data"]["reason"] = None
    with pytest.raises(InvalidEvent, match="reason"):
        decode_event(json.dumps(event))


# -- the decoder is pydantic's own --------------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children)
    ),
    max_leaves=6,
)


@st.composite
def record_values(draw: st.DrawFn) -> bytes:
    """Valid events, events with one field replaced or dropped, and raw garbage."""
    event = draw(st.sampled_from(sorted(BUILDERS)).map(lambda kind: BUILDERS[kind]()))
    mutation = draw(st.sampled_from(["none", "envelope", "data", "drop", "garbage"]))
    if mutation == "garbage":
        return draw(st.binary(max_size=40))
    if mutation in ("envelope", "data", "drop"):
        where = event if mutation == "envelope" else event["data"]
        field = draw(st.sampled_from(sorted(where)))
        if mutation == "drop":
            del where[field]
        else:
            where[field] = draw(_JSON_VALUES)
    return json.dumps(event).encode()


def _pydantic_decode(raw: bytes) -> Any:
    try:
        return TypeAdapter(EventUnion).validate_json(raw)
    except ValidationError as exc:
        return ("invalid", describe(exc))


@settings(max_examples=400, deadline=None)
@given(raw=record_values())
def test_decode_event_is_the_type_adapters_validation(raw: bytes) -> None:
    """Valid or not, the same event or the same reason as ``TypeAdapter.validate_json``."""
    try:
        decoded: Any = decode_event(raw)
    except InvalidEvent as exc:
        decoded = ("invalid", exc.reason)
    assert decoded == _pydantic_decode(raw)
