"""api.params: request parsing exactly as docs/decisions.md settles it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api.params import bearer_token, page_number, page_size, positive_int

HUGE = "9" * 5000  # past CPython's 4300-digit limit for int(str)
ARABIC_3 = "\u0663"
FULLWIDTH_3 = "\uff13"
SUPERSCRIPT_2 = "\u00b2"
NKO_3 = "\u07c3"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("412", 412),
        ("0412", 412),
        ("000001", 1),
        ("9223372036854775807", 2**63 - 1),
        ("99999999999999999999", 99999999999999999999),
    ],
)
def test_positive_int_accepts_ascii_digits_of_at_least_1(text: str, value: int) -> None:
    assert positive_int(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "00",
        "-3",
        "-0",
        "+3",
        " 3",
        "3 ",
        "3\n",
        "3.0",
        "3e2",
        "1_000",
        "0x1f",
        "abc",
        "3abc",
        ARABIC_3,
        FULLWIDTH_3,
        SUPERSCRIPT_2,
        NKO_3,
        "1" + ARABIC_3,
        ARABIC_3 * 3,
    ],
)
def test_positive_int_rejects_everything_else(text: str) -> None:
    assert positive_int(text) is None


def test_positive_int_accepts_a_very_long_number() -> None:
    # Past 4000 digits a number stands for 10**4000: beyond any id, and
    # cheap to handle (Python refuses to convert more than 4300 digits).
    assert positive_int(HUGE) == 10**4000


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (None, 20),
        ("", 20),
        ("abc", 20),
        ("0", 1),
        ("-5", 1),
        ("-0", 1),
        ("1", 1),
        ("20", 20),
        ("100", 100),
        ("101", 100),
        ("007", 7),
        ("99999999999999999999", 100),
        ("-99999999999999999999", 1),
        ("+5", 20),
        ("5.0", 20),
        (" 5", 20),
        ("5 ", 20),
        (FULLWIDTH_3, 20),
        (ARABIC_3, 20),
    ],
)
def test_page_size(text: str | None, size: int) -> None:
    assert page_size(text) == size


@pytest.mark.parametrize(
    ("text", "number"),
    [
        (None, 1),
        ("", 1),
        ("0", 1),
        ("-1", 1),
        ("1", 1),
        ("3", 3),
        ("03", 3),
        ("x", 1),
        ("+3", 1),
        ("3.0", 1),
        (FULLWIDTH_3, 1),
        (ARABIC_3, 1),
        ("99999999999999999999", 99999999999999999999),
    ],
)
def test_page_number(text: str | None, number: int) -> None:
    assert page_number(text) == number


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (page_size, HUGE, 100),
        (page_size, "-" + HUGE, 1),
        (page_number, HUGE, 10**4000),  # a page past the end of any list
        (page_number, "-" + HUGE, 1),
    ],
    ids=["items", "negative-items", "page", "negative-page"],
)
def test_very_long_numbers_follow_the_same_rules(
    parse: Callable[[str], int], text: str, value: int
) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer   \t ", None),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc  ", "abc"),
        ("BeArEr abc", "abc"),
        ("Bearer\tabc", "abc"),
        ("  Bearer abc", "abc"),
        ("Bearer a b", "a b"),
        ("Bearer abc.def-ghi_jkl~/+=", "abc.def-ghi_jkl~/+="),
        ("Basic abc", None),
        ("Token abc", None),
        ("Bearerabc", None),
        ("abc", None),
        # Only SP and HTAB separate: other bytes of a header are the token's.
        ("Bearer\xa0abc", None),
        ("Bearer\x85abc", None),
        ("Bearer abc\xa0", "abc\xa0"),
        ("\xa0Bearer abc", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token
