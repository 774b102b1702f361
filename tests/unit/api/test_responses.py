"""api.responses: the page body, in the documented field order."""

from __future__ import annotations

import json

import orjson
import pytest

from api.responses import entity_tag, error, if_none_match, page_body

KEYS = ["current_page", "items", "total_items", "total_pages", "meetings"]
MEETING_A = b'{"id":1,"name":"A"}'
MEETING_B = b'{"id":2,"name":"B \xc3\xa9"}'


def test_an_empty_page_is_valid_json_in_the_documented_order() -> None:
    body = page_body(1, 20, 0, b"")

    assert json.loads(body) == {
        "current_page": 1,
        "items": 20,
        "total_items": 0,
        "total_pages": 0,
        "meetings": [],
    }
    assert list(json.loads(body)) == KEYS


def test_a_page_holds_the_meeting_documents_as_given() -> None:
    body = page_body(2, 2, 5, MEETING_A + b"," + MEETING_B)

    parsed = json.loads(body)
    assert list(parsed) == KEYS
    assert parsed == {
        "current_page": 2,
        "items": 2,
        "total_items": 5,
        "total_pages": 3,
        "meetings": [{"id": 1, "name": "A"}, {"id": 2, "name": "B é"}],
    }
    assert body.endswith(b'"meetings":[' + MEETING_A + b"," + MEETING_B + b"]}")


@pytest.mark.parametrize(
    ("total_items", "items", "total_pages"),
    [
        (0, 20, 0),
        (1, 20, 1),
        (19, 20, 1),
        (20, 20, 1),
        (21, 20, 2),
        (40, 20, 2),
        (41, 20, 3),
        (5, 1, 5),
        (100, 100, 1),
        (101, 100, 2),
    ],
)
def test_total_pages_is_the_ceiling(total_items: int, items: int, total_pages: int) -> None:
    assert json.loads(page_body(1, items, total_items, b""))["total_pages"] == total_pages


def test_a_page_past_the_last_keeps_the_page_asked_for() -> None:
    parsed = json.loads(page_body(7, 20, 3, b""))

    assert (parsed["current_page"], parsed["total_pages"], parsed["meetings"]) == (7, 1, [])


def test_a_huge_page_number_is_written_exactly() -> None:
    assert json.loads(page_body(99999999999999999999, 20, 0, b""))["current_page"] == (
        99999999999999999999
    )


def test_errors_are_json_bodies_with_the_status() -> None:
    response = error(401, "Unauthorized Access", {"X-Test": "1"})

    assert response.status_code == 401
    assert orjson.loads(response.body) == {"error": "Unauthorized Access"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-test"] == "1"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(header: str | None, matches: bool) -> None:
    assert if_none_match(header, '"abc"') is matches


def test_the_entity_tag_is_the_body_s_and_quoted() -> None:
    tag = entity_tag(b"{}")
    assert tag.startswith('"') and tag.endswith('"')
    assert tag == entity_tag(b"{}") != entity_tag(b"{ }")
