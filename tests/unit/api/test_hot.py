"""``api/hot.py`` answers with exactly the headers of ``api/responses.py``."""

from __future__ import annotations

import orjson
import pytest

from api.hot import error, page
from api.responses import entity_tag, page_response
from api.responses import error as starlette_error


@pytest.mark.parametrize("condition", [None, "*", '"nope"', "W/{tag}", '"a", {tag}'])
def test_a_page_has_the_headers_of_page_response(condition: str | None) -> None:
    body = b'{"current_page":1,"items":20,"total_items":0,"total_pages":0,"meetings":[]}'
    tag = entity_tag(body)
    sent = None if condition is None else condition.format(tag=tag)
    expected = page_response(body, sent)

    status, headers, answer = page(body, tag.encode(), sent)

    assert (status, headers, answer) == (expected.status_code, expected.raw_headers, expected.body)


@pytest.mark.parametrize(
    ("status", "message", "extra"),
    [
        (401, "Unauthorized Access", None),
        (422, "Parameter member_id must be a positive integer", None),
        (503, "Service Unavailable", {"Retry-After": "1"}),
        (429, "Too Many Requests", {"Retry-After": "60"}),
    ],
)
def test_an_error_has_the_headers_of_the_error_response(
    status: int, message: str, extra: dict[str, str] | None
) -> None:
    expected = starlette_error(status, message, extra)
    raw_extra = [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]

    got = error(status, message, raw_extra)

    assert got == (expected.status_code, expected.raw_headers, expected.body)
    assert orjson.loads(got[2]) == {"error": message}
