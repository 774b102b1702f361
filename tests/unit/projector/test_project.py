"""projector.projection.project: what each event changes in the read model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from events import decode_event
from projector.projection.project import project
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
from tests.builders import (
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


def change(event: Event) -> Change:
    return project(decode_event(encode(event)))


@pytest.mark.parametrize("build", [scheduled, updated])
def test_a_snapshot_places_the_meeting(build: Callable[..., Event]) -> None:
    event = build(
        meeting_id=9123,
        organization_id=5,
        version=3,
        meeting_series_id=412,
        start_time="2026-05-23T17:00:00.000+02:00",
        end_time="2026-05-23T16:00:00.000Z",
        group_leader=leader(id=4501),
        co_leader_ids=[4502, 4503],
    )
    head, tail = render_parts(decode_event(encode(event)).data)  # type: ignore[arg-type]

    assert change(event) == PlaceMeeting(
        meeting_id=9123,
        version=3,
        organization_id=5,
        series_id=412,
        start_ms=1_779_548_400_000,
        end_ms=1_779_552_000_000,
        leader_ids=frozenset({4501, 4502, 4503}),
        head=head,
        tail=tail,
    )


def test_a_one_off_meeting_has_no_series() -> None:
    placed = change(scheduled(meeting_series_id=None, co_leader_ids=[]))

    assert isinstance(placed, PlaceMeeting)
    assert placed.series_id is None
    assert placed.leader_ids == {4501}


@pytest.mark.parametrize("build", [canceled, completed])
def test_canceled_and_completed_end_the_meeting(build: Callable[..., Event]) -> None:
    assert change(build(meeting_id=9123, organization_id=5, version=4)) == EndMeeting(9123)


def test_registration_created_registers() -> None:
    event = registration_created(registration_id=31, meeting_id=9123, user_id=100)

    assert change(event) == Register(meeting_id=9123, registration_id=31, user_id=100)


def test_registration_canceled_unregisters() -> None:
    event = registration_canceled(registration_id=31, meeting_id=9123, user_id=100)

    assert change(event) == Unregister(meeting_id=9123, registration_id=31)


@pytest.mark.parametrize(("build", "linked"), [(eap_linked, True), (eap_unlinked, False)])
def test_eap_link_events_set_the_link(build: Callable[..., Event], linked: bool) -> None:
    event = build(organization_id=5, hpc_organization_id=6, version=7)

    assert change(event) == SetEapLink(
        eap_organization_id=5, hpc_organization_id=6, version=7, linked=linked
    )


def test_api_token_issued_issues() -> None:
    issued = change(token_issued(organization_id=5, token="abc"))

    assert issued == IssueToken(5, sha256_hex("abc"))


def test_api_token_revoked_revokes() -> None:
    revoked = change(token_revoked(organization_id=5, token="abc"))

    assert revoked == RevokeToken(5, sha256_hex("abc"))


def test_project_is_deterministic() -> None:
    assert change(scheduled()) == change(scheduled())
