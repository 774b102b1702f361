"""events.topics: where each event is published and with which key."""

from __future__ import annotations

import pytest

from events import Topics, decode_event, dlq_topic, event_key
from tests.builders import (
    BUILDERS,
    canceled,
    completed,
    eap_linked,
    eap_unlinked,
    encode,
    registration_canceled,
    registration_created,
    scheduled,
    token_issued,
    token_revoked,
    updated,
)

TOPIC_OF = {
    "meeting.scheduled": "meeting-events",
    "meeting.updated": "meeting-events",
    "meeting.completed": "meeting-events",
    "registration.created": "registration-events",
    "registration.canceled": "registration-events",
    "meeting.canceled": "cancellation-events",
    "organization.eap_linked": "organization-events",
    "organization.eap_unlinked": "organization-events",
    "api_token.issued": "organization-events",
    "api_token.revoked": "organization-events",
}


def test_the_table_covers_every_event_type() -> None:
    assert set(TOPIC_OF) == set(BUILDERS)


@pytest.mark.parametrize(("event_type", "topic"), sorted(TOPIC_OF.items()))
def test_for_event_is_the_contract_topic(event_type: str, topic: str) -> None:
    event = decode_event(encode(BUILDERS[event_type]()))

    assert Topics().for_event(event) == topic


@pytest.mark.parametrize(("event_type", "topic"), sorted(TOPIC_OF.items()))
def test_for_event_follows_the_prefix(event_type: str, topic: str) -> None:
    event = decode_event(encode(BUILDERS[event_type]()))

    assert Topics.with_prefix("t1a2.").for_event(event) == f"t1a2.{topic}"


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (scheduled(meeting_id=9123, organization_id=5), b"9123"),
        (updated(meeting_id=9123, organization_id=5), b"9123"),
        (completed(meeting_id=9123, organization_id=5), b"9123"),
        (canceled(meeting_id=9123, organization_id=5), b"9123"),
        (registration_created(registration_id=77, meeting_id=9123, user_id=4), b"9123"),
        (registration_canceled(registration_id=77, meeting_id=9123, user_id=4), b"9123"),
        (eap_linked(organization_id=5, hpc_organization_id=6), b"5"),
        (eap_unlinked(organization_id=5, hpc_organization_id=6), b"5"),
        (token_issued(organization_id=5), b"5"),
        (token_revoked(organization_id=5), b"5"),
    ],
    ids=lambda value: value["event_type"] if isinstance(value, dict) else None,
)
def test_event_key_is_the_decimal_meeting_or_organization_id(event: dict, key: bytes) -> None:
    assert event_key(decode_event(encode(event))) == key


def test_event_key_of_a_large_id_has_no_exponent_or_separator() -> None:
    event = decode_event(encode(scheduled(meeting_id=2**63 - 1)))

    assert event_key(event) == b"9223372036854775807"


def test_default_names() -> None:
    assert Topics().names() == (
        "meeting-events",
        "registration-events",
        "cancellation-events",
        "organization-events",
    )


def test_with_prefix_prefixes_every_name() -> None:
    topics = Topics.with_prefix("staging.")

    assert topics == Topics(
        meetings="staging.meeting-events",
        registrations="staging.registration-events",
        cancellations="staging.cancellation-events",
        organizations="staging.organization-events",
    )


def test_with_empty_prefix_is_the_default() -> None:
    assert Topics.with_prefix("") == Topics()


def test_dlq_topic_appends_dlq() -> None:
    assert dlq_topic("meeting-events") == "meeting-events.dlq"
    assert dlq_topic("t1.registration-events") == "t1.registration-events.dlq"


def test_dead_letters_are_one_per_source_topic() -> None:
    assert Topics.with_prefix("p.").dead_letters() == (
        "p.meeting-events.dlq",
        "p.registration-events.dlq",
        "p.cancellation-events.dlq",
        "p.organization-events.dlq",
    )
