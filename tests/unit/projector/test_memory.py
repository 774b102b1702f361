"""projector.projection.memory.InMemoryReadModel: the read model's rules.

The rules are docs/events.md's and docs/decisions.md's.

Times are minutes from ``NOW``; a meeting lasts an hour unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import decode_event
from projector.projection.memory import InMemoryReadModel
from projector.projection.project import project
from readmodel.changes import Change
from tests.builders import (
    MINUTE_MS,
    NOW_MS,
    Event,
    at,
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
from tests.unit.projector.documents import render_meeting

NOW = NOW_MS
ALL = 1000


def minutes(n: int) -> int:
    return NOW + n * MINUTE_MS


def meeting(
    meeting_id: int,
    organization_id: int = 5,
    version: int = 1,
    *,
    start: int = 60,
    length: int = 60,
    series: int | None = None,
    leader_id: int = 4501,
    co_leaders: tuple[int, ...] = (),
    build: Callable[..., Event] = scheduled,
    **fields: Any,
) -> Event:
    """A snapshot of a meeting starting ``start`` minutes from now."""
    data = {
        "start_time": at(minutes(start)),
        "end_time": at(minutes(start + length)),
        "meeting_series_id": series,
        "group_leader": leader(id=leader_id),
        "co_leader_ids": list(co_leaders),
        **fields,
    }
    return build(meeting_id, organization_id, version, **data)


def change(event: Event) -> Change:
    return project(decode_event(encode(event)))


def model(*events: Event) -> InMemoryReadModel:
    read_model = InMemoryReadModel()
    read_model.apply([change(event) for event in events])
    return read_model


def documents(
    read_model: InMemoryReadModel,
    organization_id: int = 5,
    series: int | None = None,
    now: int = NOW,
) -> list[dict[str, Any]]:
    page = read_model.page(organization_id, now, 0, ALL, series)
    assert page.total_items == len(page.meetings)
    return [json.loads(document) for document in page.meetings]


def listed(
    read_model: InMemoryReadModel,
    organization_id: int = 5,
    series: int | None = None,
    now: int = NOW,
) -> list[int]:
    return [document["id"] for document in documents(read_model, organization_id, series, now)]


def attendees(read_model: InMemoryReadModel, meeting_id: int, organization_id: int = 5) -> int:
    (count,) = [
        document["registered_attendees"]
        for document in documents(read_model, organization_id)
        if document["id"] == meeting_id
    ]
    return count  # type: ignore[no-any-return]


# -- snapshots ----------------------------------------------------------------


def test_a_scheduled_meeting_is_listed_as_rendered() -> None:
    event = meeting(1, name="Circle")
    read_model = model(event)

    page = read_model.page(5, NOW, 0, 20)

    assert page.total_items == 1
    assert page.meetings == [render_meeting(decode_event(encode(event)).data, 0)]  # type: ignore[arg-type]


def test_nothing_is_listed_for_an_unknown_organization() -> None:
    assert listed(model(meeting(1, organization_id=5)), organization_id=6) == []


def test_a_higher_version_replaces_the_snapshot() -> None:
    read_model = model(
        meeting(1, version=1, name="Old"), meeting(1, version=2, name="New", build=updated)
    )

    assert [document["name"] for document in documents(read_model)] == ["New"]


@pytest.mark.parametrize("late_version", [1, 2], ids=["lower", "equal"])
def test_a_version_not_above_the_highest_seen_changes_nothing(late_version: int) -> None:
    read_model = model(
        meeting(1, version=2, name="Current", build=updated),
        meeting(1, version=late_version, name="Stale"),
    )

    assert [document["name"] for document in documents(read_model)] == ["Current"]


def test_an_update_before_the_scheduled_stands_for_it() -> None:
    read_model = model(meeting(1, version=2, name="Updated", build=updated))
    assert [document["name"] for document in documents(read_model)] == ["Updated"]

    read_model.apply([change(meeting(1, version=1, name="Scheduled"))])
    assert [document["name"] for document in documents(read_model)] == ["Updated"]


def test_a_snapshot_may_move_the_meeting_to_another_organization() -> None:
    read_model = model(meeting(1, organization_id=5), meeting(1, organization_id=7, version=2))

    assert listed(read_model, organization_id=5) == []
    assert listed(read_model, organization_id=7) == [1]


def test_a_stale_snapshot_does_not_move_it_back() -> None:
    read_model = model(meeting(1, organization_id=7, version=2), meeting(1, organization_id=5))

    assert listed(read_model, organization_id=5) == []
    assert listed(read_model, organization_id=7) == [1]


def test_a_snapshot_may_move_the_meeting_to_another_series() -> None:
    read_model = model(meeting(1, series=412), meeting(1, series=413, version=2))

    assert listed(read_model, series=412) == []
    assert listed(read_model, series=413) == [1]


def test_a_snapshot_may_make_a_series_meeting_a_one_off() -> None:
    read_model = model(meeting(1, series=412), meeting(1, series=None, version=2))

    assert listed(read_model, series=412) == []
    assert listed(read_model) == [1]


def test_a_snapshot_may_move_the_start_time() -> None:
    read_model = model(meeting(1, start=60), meeting(2, start=120))
    assert listed(read_model) == [1, 2]

    read_model.apply([change(meeting(1, version=2, start=180))])

    assert listed(read_model) == [2, 1]
    assert documents(read_model)[1]["start_time"] == at(minutes(180))


def test_a_snapshot_may_move_the_meeting_into_the_past() -> None:
    read_model = model(meeting(1, start=60), meeting(1, version=2, start=-120))

    assert listed(read_model) == []


# -- end of life ----------------------------------------------------------------

END_EVENTS = [canceled, completed]


@pytest.mark.parametrize("end", END_EVENTS)
def test_an_ended_meeting_is_not_listed(end: Callable[..., Event]) -> None:
    read_model = model(meeting(1), meeting(2), end(meeting_id=1, version=2))

    assert listed(read_model) == [2]


@pytest.mark.parametrize("end", END_EVENTS)
def test_a_higher_snapshot_after_the_end_does_not_bring_it_back(end: Callable[..., Event]) -> None:
    read_model = model(
        meeting(1), end(meeting_id=1, version=2), meeting(1, version=3, build=updated)
    )

    assert listed(read_model) == []


@pytest.mark.parametrize("end", END_EVENTS)
def test_the_end_arriving_before_any_snapshot_is_terminal(end: Callable[..., Event]) -> None:
    read_model = model(
        end(meeting_id=1, version=2), meeting(1, version=1), meeting(1, version=5, build=updated)
    )

    assert listed(read_model) == []


@pytest.mark.parametrize("end", END_EVENTS)
def test_the_end_is_terminal_whatever_its_version(end: Callable[..., Event]) -> None:
    read_model = model(meeting(1, version=4, build=updated), end(meeting_id=1, version=1))

    assert listed(read_model) == []


@pytest.mark.parametrize("end", END_EVENTS)
def test_an_ended_meeting_leaves_every_list(end: Callable[..., Event]) -> None:
    read_model = model(
        meeting(1, organization_id=6, series=412),
        eap_linked(organization_id=5, hpc_organization_id=6),
        end(meeting_id=1, organization_id=6, version=2),
    )

    for organization_id in (5, 6):
        assert listed(read_model, organization_id) == []
        assert listed(read_model, organization_id, series=412) == []


# -- registrations --------------------------------------------------------------


def test_registrations_count() -> None:
    read_model = model(
        meeting(1),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=101),
        registration_created(3, meeting_id=2, user_id=102),
    )

    assert attendees(read_model, 1) == 2


def test_registrations_before_the_snapshot_count_once_it_arrives() -> None:
    read_model = model(
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=101),
    )
    assert listed(read_model) == []

    read_model.apply([change(meeting(1))])

    assert attendees(read_model, 1) == 2


def test_a_user_registered_twice_counts_once() -> None:
    read_model = model(
        meeting(1),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=100),
    )

    assert attendees(read_model, 1) == 1


def test_a_user_counts_while_any_of_their_registrations_is_active() -> None:
    read_model = model(
        meeting(1),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=100),
        registration_canceled(1, meeting_id=1, user_id=100),
    )
    assert attendees(read_model, 1) == 1

    read_model.apply([change(registration_canceled(2, meeting_id=1, user_id=100))])
    assert attendees(read_model, 1) == 0


def test_a_canceled_registration_does_not_count() -> None:
    read_model = model(
        meeting(1),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=101),
        registration_canceled(1, meeting_id=1, user_id=100),
    )

    assert attendees(read_model, 1) == 1


def test_registration_cancellation_is_terminal() -> None:
    read_model = model(
        meeting(1),
        registration_canceled(1, meeting_id=1, user_id=100),
        registration_created(1, meeting_id=1, user_id=100),
    )
    assert attendees(read_model, 1) == 0

    read_model.apply([change(registration_created(1, meeting_id=1, user_id=100))])
    assert attendees(read_model, 1) == 0


def test_a_duplicate_created_counts_once() -> None:
    created = registration_created(1, meeting_id=1, user_id=100)

    assert attendees(model(meeting(1), created, created, created), 1) == 1


@pytest.mark.parametrize(
    ("leader_id", "co_leaders", "expected"),
    [
        (100, (), 2),
        (999, (101,), 2),
        (100, (101, 102), 0),
        (999, (), 3),
    ],
    ids=["group-leader", "co-leader", "all-leaders", "no-leader-registered"],
)
def test_leaders_are_left_out(leader_id: int, co_leaders: tuple[int, ...], expected: int) -> None:
    read_model = model(
        meeting(1, leader_id=leader_id, co_leaders=co_leaders),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=101),
        registration_created(3, meeting_id=1, user_id=102),
    )

    assert attendees(read_model, 1) == expected


def test_leaders_are_those_of_the_latest_snapshot() -> None:
    read_model = model(
        meeting(1, leader_id=100, co_leaders=(101,)),
        registration_created(1, meeting_id=1, user_id=100),
        registration_created(2, meeting_id=1, user_id=101),
        registration_created(3, meeting_id=1, user_id=102),
    )
    assert attendees(read_model, 1) == 1

    read_model.apply([change(meeting(1, version=2, leader_id=102, build=updated))])
    assert attendees(read_model, 1) == 2

    read_model.apply([change(meeting(1, version=1, leader_id=100, co_leaders=(101,)))])
    assert attendees(read_model, 1) == 2  # a stale snapshot's leaders do not count


def test_registered_attendees_is_not_capped_at_max_attendees() -> None:
    read_model = model(
        meeting(1, max_attendees=2),
        *(registration_created(n, meeting_id=1, user_id=100 + n) for n in range(1, 6)),
    )

    assert attendees(read_model, 1) == 5


# -- EAP links ------------------------------------------------------------------

EAP, HPC = 5, 6


def test_a_link_adds_the_existing_meetings_of_the_hpc_organization() -> None:
    read_model = model(meeting(1, EAP), meeting(2, HPC), eap_linked(EAP, HPC))

    assert listed(read_model, EAP) == [1, 2]


def test_a_link_adds_meetings_the_hpc_organization_schedules_later() -> None:
    read_model = model(eap_linked(EAP, HPC), meeting(1, EAP), meeting(2, HPC, start=30))

    assert listed(read_model, EAP) == [2, 1]


def test_a_link_goes_one_way() -> None:
    read_model = model(meeting(1, EAP), meeting(2, HPC), eap_linked(EAP, HPC))

    assert listed(read_model, HPC) == [2]


def test_unlinking_removes_the_hpc_meetings() -> None:
    read_model = model(
        meeting(1, EAP),
        meeting(2, HPC),
        eap_linked(EAP, HPC, version=1),
        eap_unlinked(EAP, HPC, version=2),
    )

    assert listed(read_model, EAP) == [1]
    assert listed(read_model, HPC) == [2]


@pytest.mark.parametrize(
    ("links", "shown"),
    [
        ([eap_linked(EAP, HPC, version=1)], True),
        ([eap_linked(EAP, HPC, version=1), eap_unlinked(EAP, HPC, version=2)], False),
        ([eap_unlinked(EAP, HPC, version=2), eap_linked(EAP, HPC, version=1)], False),
        ([eap_unlinked(EAP, HPC, version=2), eap_linked(EAP, HPC, version=3)], True),
        ([eap_linked(EAP, HPC, version=3), eap_unlinked(EAP, HPC, version=2)], True),
        (
            [
                eap_linked(EAP, HPC, version=3),
                eap_unlinked(EAP, HPC, version=2),
                eap_linked(EAP, HPC, version=1),
            ],
            True,
        ),
        ([eap_unlinked(EAP, HPC, version=1)], False),
    ],
    ids=[
        "linked",
        "then-unlinked",
        "unlink-first",
        "relinked",
        "stale-unlink",
        "stale-both",
        "unlinked-only",
    ],
)
def test_the_highest_link_version_wins_in_any_order(links: list[Event], shown: bool) -> None:
    read_model = model(meeting(1, EAP), meeting(2, HPC), *links)

    assert listed(read_model, EAP) == ([1, 2] if shown else [1])


def test_links_are_not_transitive() -> None:
    read_model = model(
        meeting(1, organization_id=1),
        meeting(2, organization_id=2),
        meeting(3, organization_id=3),
        eap_linked(organization_id=1, hpc_organization_id=2),
        eap_linked(organization_id=2, hpc_organization_id=3),
    )

    assert listed(read_model, 1) == [1, 2]
    assert listed(read_model, 2) == [2, 3]
    assert listed(read_model, 3) == [3]


def test_an_hpc_organization_may_be_linked_to_several_eap_organizations() -> None:
    read_model = model(
        meeting(1, organization_id=1),
        meeting(2, organization_id=2),
        meeting(9, organization_id=HPC),
        eap_linked(organization_id=1, hpc_organization_id=HPC),
        eap_linked(organization_id=2, hpc_organization_id=HPC),
        eap_unlinked(organization_id=2, hpc_organization_id=HPC, version=2),
        eap_linked(organization_id=3, hpc_organization_id=HPC),
    )

    assert listed(read_model, 1) == [1, 9]
    assert listed(read_model, 2) == [2]
    assert listed(read_model, 3) == [9]


def test_an_organization_may_be_linked_to_several_hpc_organizations() -> None:
    read_model = model(
        meeting(1, EAP, start=30),
        meeting(2, organization_id=6, start=10),
        meeting(3, organization_id=7, start=20),
        meeting(4, organization_id=8, start=40),
        eap_linked(EAP, 6),
        eap_linked(EAP, 7),
    )

    assert listed(read_model, EAP) == [2, 3, 1]


def test_a_meeting_moved_to_a_linked_organization_stays_listed_once() -> None:
    read_model = model(eap_linked(EAP, HPC), meeting(1, EAP), meeting(1, HPC, version=2))

    assert listed(read_model, EAP) == [1]


def test_the_series_filter_applies_to_the_whole_list() -> None:
    read_model = model(
        meeting(1, EAP, series=412, start=30),
        meeting(2, EAP, series=413),
        meeting(3, HPC, series=412, start=10),
        meeting(4, HPC, series=None),
        meeting(5, organization_id=7, series=412),
        eap_linked(EAP, HPC),
    )

    assert listed(read_model, EAP, series=412) == [3, 1]
    assert listed(read_model, EAP, series=413) == [2]
    assert listed(read_model, EAP, series=999) == []
    assert listed(read_model, HPC, series=412) == [3]


# -- order, time, pages ---------------------------------------------------------


def test_order_is_start_then_id() -> None:
    read_model = model(
        meeting(10, start=60),
        meeting(9, start=60),
        meeting(2, start=60),
        meeting(11, start=30),
        meeting(1, start=90),
        meeting(100, start=60, length=5),
    )

    assert listed(read_model) == [11, 2, 9, 10, 100, 1]


def test_order_is_by_instant_not_by_published_text() -> None:
    read_model = model(
        meeting(1, start_time="2026-05-01T15:00:00+02:00", end_time=at(minutes(600))),  # 13:00Z
        meeting(2, start_time="2026-05-01T12:30:00Z", end_time=at(minutes(600))),
    )

    assert listed(read_model) == [2, 1]


@pytest.mark.parametrize(
    ("start", "length", "shown"),
    [
        (60, 60, True),
        (0, 60, True),
        (-30, 60, True),
        (-60, 60, False),
        (-120, 60, False),
    ],
    ids=["future", "starting-now", "in-progress", "ending-now", "ended"],
)
def test_a_meeting_is_upcoming_until_it_ends(start: int, length: int, shown: bool) -> None:
    read_model = model(meeting(1, start=start, length=length))

    assert listed(read_model) == ([1] if shown else [])


def test_a_meeting_leaves_the_list_the_instant_it_ends() -> None:
    read_model = model(meeting(1, start=0, length=60), meeting(2, start=0, length=120))
    end = minutes(60)

    assert listed(read_model, now=end - 1) == [1, 2]
    assert listed(read_model, now=end) == [2]
    assert read_model.page(5, end, 0, 20).total_items == 1


@pytest.mark.parametrize(
    ("offset", "limit", "ids"),
    [
        (0, 20, [1, 2, 3, 4, 5]),
        (0, 2, [1, 2]),
        (2, 2, [3, 4]),
        (4, 2, [5]),
        (5, 2, []),
        (100, 20, []),
        (0, 1, [1]),
        (4, 100, [5]),
    ],
)
def test_pages(offset: int, limit: int, ids: list[int]) -> None:
    read_model = model(*(meeting(n, start=10 * n) for n in range(1, 6)), meeting(6, start=-120))

    page = read_model.page(5, NOW, offset, limit)

    assert page.total_items == 5
    assert [json.loads(document)["id"] for document in page.meetings] == ids


def test_total_items_counts_the_filtered_list() -> None:
    read_model = model(
        meeting(1, series=412),
        meeting(2, series=412),
        meeting(3, series=413),
        meeting(4, series=412, start=-120),
    )

    assert read_model.page(5, NOW, 0, 1, 412).total_items == 2
    assert read_model.page(5, NOW, 0, 1).total_items == 3


# -- tokens ---------------------------------------------------------------------


def test_an_issued_token_resolves_to_its_organization() -> None:
    read_model = model(token_issued(organization_id=5, token="abc"))

    assert read_model.token_organizations(sha256_hex("abc")) == {5}
    assert read_model.token_organizations(sha256_hex("abd")) == set()


def test_a_revoked_token_resolves_to_nothing() -> None:
    read_model = model(token_issued(5, token="abc"), token_revoked(5, token="abc"))

    assert read_model.token_organizations(sha256_hex("abc")) == set()


def test_revocation_is_terminal_even_if_the_issue_arrives_later() -> None:
    read_model = model(token_revoked(5, token="abc"), token_issued(5, token="abc"))
    assert read_model.token_organizations(sha256_hex("abc")) == set()

    read_model.apply([change(token_issued(5, token="abc"))])
    assert read_model.token_organizations(sha256_hex("abc")) == set()


def test_revoking_one_token_leaves_the_others() -> None:
    read_model = model(
        token_issued(5, token="abc"), token_issued(5, token="xyz"), token_revoked(5, token="abc")
    )

    assert read_model.token_organizations(sha256_hex("xyz")) == {5}


def test_token_organizations_is_a_copy() -> None:
    read_model = model(token_issued(5, token="abc"))

    read_model.token_organizations(sha256_hex("abc")).add(6)

    assert read_model.token_organizations(sha256_hex("abc")) == {5}


def test_tokens_do_not_list_meetings() -> None:
    read_model = model(meeting(1, organization_id=6), token_issued(5, token="abc"))

    assert listed(read_model, 5) == []


# -- laws: any order, any duplicates, same read model ---------------------------

ORGANIZATIONS = (1, 2, 3)
SERIES = (None, 41, 42)
USERS = (100, 101, 102, 103)
TOKENS = ("alpha", "beta")
NOWS = (NOW, minutes(45), minutes(200))


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    """The changes of a small, contract-abiding history, in publishing order."""
    events: list[Event] = []
    meeting_ids = range(1, draw(st.integers(1, 4)) + 1)
    for meeting_id in meeting_ids:
        for version in draw(st.sets(st.integers(1, 6), max_size=3)):
            events.append(
                meeting(
                    meeting_id,
                    draw(st.sampled_from(ORGANIZATIONS)),
                    version,
                    start=draw(st.integers(-150, 150)),
                    length=draw(st.integers(1, 120)),
                    series=draw(st.sampled_from(SERIES)),
                    leader_id=draw(st.sampled_from(USERS)),
                    co_leaders=tuple(draw(st.sets(st.sampled_from(USERS), max_size=2))),
                    build=draw(st.sampled_from([scheduled, updated])),
                )
            )
        if draw(st.integers(0, 3)) == 0:
            end = draw(st.sampled_from(END_EVENTS))
            events.append(end(meeting_id=meeting_id, version=draw(st.integers(1, 7))))
    for registration_id in range(1, draw(st.integers(0, 8)) + 1):
        registration = {
            "registration_id": registration_id,
            "meeting_id": draw(st.sampled_from(meeting_ids)),
            "user_id": draw(st.sampled_from(USERS)),
        }
        events.append(registration_created(**registration))
        if draw(st.booleans()):
            events.append(registration_canceled(**registration))
    pairs = st.tuples(st.sampled_from(ORGANIZATIONS), st.sampled_from(ORGANIZATIONS))
    for eap, hpc in draw(st.sets(pairs.filter(lambda pair: pair[0] != pair[1]), max_size=3)):
        for version in draw(st.sets(st.integers(1, 4), min_size=1, max_size=3)):
            link = eap_linked if draw(st.booleans()) else eap_unlinked
            events.append(link(eap, hpc, version))
    for token in TOKENS:
        organization_id = draw(st.sampled_from(ORGANIZATIONS))
        if draw(st.booleans()):
            events.append(token_issued(organization_id, token=token))
        if draw(st.booleans()):
            events.append(token_revoked(organization_id, token=token))
    return [change(event) for event in events]


def applied(*batches: list[Change]) -> InMemoryReadModel:
    read_model = InMemoryReadModel()
    for batch in batches:
        read_model.apply(batch)
    return read_model


def view(read_model: InMemoryReadModel) -> dict[object, object]:
    """Every answer the read model gives about the history's organizations and tokens."""
    answers: dict[object, object] = {}
    for organization_id in ORGANIZATIONS:
        for series in SERIES:
            for now in NOWS:
                answers[organization_id, series, now] = read_model.page(
                    organization_id, now, 0, ALL, series
                )
        answers[organization_id, "second page"] = read_model.page(organization_id, NOW, 2, 2)
    for token in TOKENS:
        answers[token] = read_model.token_organizations(sha256_hex(token))
    return answers


LAWS = settings(max_examples=150, deadline=None)


@LAWS
@given(history=histories(), data=st.data())
def test_any_order_gives_the_same_read_model(history: list[Change], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(history))

    assert view(applied(shuffled)) == view(applied(history))


@LAWS
@given(history=histories(), data=st.data())
def test_duplicates_in_any_order_change_nothing(history: list[Change], data: st.DataObject) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(history), max_size=10)) if history else []
    replayed = data.draw(st.permutations(history + duplicates))

    assert view(applied(replayed)) == view(applied(history))


@LAWS
@given(history=histories(), data=st.data())
def test_batch_boundaries_do_not_matter(history: list[Change], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(history)))

    assert view(applied(history[:cut], history[cut:])) == view(applied(history))


@LAWS
@given(history=histories())
def test_applying_a_batch_twice_equals_applying_it_once(history: list[Change]) -> None:
    assert view(applied(history, history)) == view(applied(history))


# -- a member's list ------------------------------------------------------------


def followed(read_model: InMemoryReadModel, member: int, org: int = 5, **kw: Any) -> list[int]:
    page = read_model.page(org, NOW, 0, ALL, kw.get("series"), member_id=member)
    return [json.loads(document)["id"] for document in page.meetings]


def test_a_member_follows_the_meetings_they_registered_for_or_lead() -> None:
    read_model = model(
        meeting(1, start=10),
        meeting(2, start=20, leader_id=77),
        meeting(3, start=30, co_leaders=(77,)),
        meeting(4, start=40),
        registration_created(registration_id=1, meeting_id=1, user_id=77),
    )
    assert followed(read_model, 77) == [1, 2, 3]
    assert followed(read_model, 78) == []


def test_a_canceled_registration_or_a_new_leader_takes_a_meeting_off_a_members_list() -> None:
    read_model = model(
        meeting(1, start=10),
        meeting(2, start=20, leader_id=77),
        registration_created(registration_id=1, meeting_id=1, user_id=77),
        registration_canceled(registration_id=1, meeting_id=1, user_id=77),
        meeting(2, version=2, start=20, leader_id=78, build=updated),
    )
    assert followed(read_model, 77) == []
    assert followed(read_model, 78) == [2]


def test_a_members_list_is_the_organizations_list_filtered_eap_and_series_included() -> None:
    read_model = model(
        meeting(1, start=10, series=412),
        meeting(2, organization_id=900, start=20, series=412),
        meeting(3, organization_id=6, start=30),
        meeting(4, start=-120, length=60),  # over
        eap_linked(organization_id=5, hpc_organization_id=900),
        *[registration_created(registration_id=m, meeting_id=m, user_id=77) for m in (1, 2, 3, 4)],
    )
    assert followed(read_model, 77) == [1, 2]
    assert followed(read_model, 77, series=412) == [1, 2]
    assert followed(read_model, 77, org=6) == [3]
    assert followed(read_model, 77, series=999) == []
