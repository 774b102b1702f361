"""events.consistency: tokens parse to positions, and nothing else parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.consistency import (
    MAX_ENTRIES,
    MAX_TOKEN_BYTES,
    InvalidToken,
    Position,
    format_token,
    parse_token,
    position_of,
)

TOPICS = ("meeting-events", "registration-events", "cancellation-events", "organization-events")

entries = st.lists(
    st.tuples(
        st.sampled_from(TOPICS),
        st.integers(0, 2**31 - 1),
        st.integers(0, 2**63 - 1),
    ),
    min_size=1,
    max_size=40,
)
positions = entries.map(position_of)


def test_the_issue_s_example_parses() -> None:
    position = parse_token("registration-events:3:1841,meeting-events:0:77", TOPICS)
    assert position.offsets == {("registration-events", 3): 1841, ("meeting-events", 0): 77}


def test_an_empty_token_names_the_empty_position() -> None:
    assert parse_token("", TOPICS) == parse_token(" ", TOPICS) == position_of([])
    assert format_token(position_of([])) == ""


def test_a_partition_named_twice_keeps_its_highest_offset() -> None:
    position = parse_token("meeting-events:0:7,meeting-events:0:3", TOPICS)
    assert position.offsets == {("meeting-events", 0): 7}


@given(positions)
def test_a_formatted_token_parses_back_to_its_position(position: Position) -> None:
    assert parse_token(format_token(position), TOPICS) == position


@given(entries)
def test_entries_in_any_order_give_one_token(given_entries: list[tuple[str, int, int]]) -> None:
    assert format_token(position_of(given_entries)) == format_token(
        position_of(reversed(given_entries))
    )


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("meeting-events:0", "no offset"),
        ("meeting-events:0:1:2", "too many parts"),
        ("meeting-events:-1:5", "negative partition"),
        ("meeting-events:0:-5", "negative offset"),
        ("meeting-events:x:5", "non-integer partition"),
        ("meeting-events:0:5.0", "non-integer offset"),
        ("meeting-events:0:05", "leading zero"),
        ("other-events:0:5", "unknown topic"),
        ("meeting-events:0:5,", "empty entry"),
        ("meeting-events:2147483648:5", "partition out of range"),
        ("meeting-events:0:9223372036854775808", "offset out of range"),
        ("meeting-events:0:١٢", "non-ASCII digits"),
    ],
)
def test_a_malformed_token_is_refused(token: str, why: str) -> None:
    with pytest.raises(InvalidToken):
        parse_token(token, TOPICS)


def test_a_token_over_8_kb_is_refused_before_it_is_read() -> None:
    token = ",".join(["meeting-events:0:1"] * 500)
    assert len(token) > MAX_TOKEN_BYTES
    with pytest.raises(InvalidToken, match="bytes"):
        parse_token(token, TOPICS)


def test_a_token_of_more_than_1000_entries_is_refused() -> None:
    token = ",".join(["m:0:1"] * (MAX_ENTRIES + 1))
    assert len(token) <= MAX_TOKEN_BYTES
    with pytest.raises(InvalidToken, match="entries"):
        parse_token(token, ("m",))


def test_exactly_1000_entries_are_accepted() -> None:
    token = ",".join(f"m:{p}:1" for p in range(MAX_ENTRIES))
    assert len(parse_token(token, ("m",)).offsets) == MAX_ENTRIES


@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_as_invalid(text: str) -> None:
    try:
        position = parse_token(text, TOPICS)
    except InvalidToken:
        return
    assert parse_token(format_token(position), TOPICS) == position


@given(positions, positions)
def test_merged_covers_both_and_nothing_less_does(a: Position, b: Position) -> None:
    merged = a.merged(b)
    assert merged.covers(a)
    assert merged.covers(b)
    assert merged == b.merged(a)


@given(positions)
def test_a_position_covers_itself_and_not_one_record_more(position: Position) -> None:
    assert position.covers(position)
    (topic, partition), offset = next(iter(position.offsets.items()))
    assert not position.covers(position_of([(topic, partition, offset + 1)]))
    assert not position_of([]).covers(position)
