"""Sorted-set members: short, and in the order of the meeting ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readmodel.keys import meeting_id_of, member

IDS = st.integers(1, 2**63 - 1)


@given(IDS, IDS)
def test_members_sort_as_their_ids(a: int, b: int) -> None:
    assert (member(a) < member(b)) == (a < b)


@given(IDS)
def test_a_member_names_its_meeting(meeting_id: int) -> None:
    assert meeting_id_of(member(meeting_id)) == meeting_id
    assert meeting_id_of(member(meeting_id).encode()) == meeting_id


def test_members_are_short() -> None:
    assert [member(9), member(10), member(12345), member(2**63 - 1)] == [
        "a9",
        "b10",
        "e12345",
        "s9223372036854775807",
    ]


@pytest.mark.parametrize("meeting_id", [0, -1, 2**63 * 10])
def test_no_member_for_an_id_out_of_range(meeting_id: int) -> None:
    with pytest.raises(ValueError, match="not a positive 64-bit id"):
        member(meeting_id)
