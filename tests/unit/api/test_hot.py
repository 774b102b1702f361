"""``api/hot.py`` answers with exactly the headers Starlette's responses would have."""

from __future__ import annotations

import orjson
import pytest
from starlette.responses import Response

from api.hot import error, page
from api.responses import JSON, PAGE_CACHE_CONTROL, entity_tag, if_none_match, json_response
from api.responses import error as starlette_error


def page_response(body: bytes, condition: str | None) -> Response:
    """A page as a Starlette response: 200, or 304 when the client holds this body."""
    tag = entity_tag(body)
    headers = {"ETag": tag, "Cache-Control": PAGE_CACHE_CONTROL, "Vary": "Authorization"}
    if if_none_match(condition, tag):
        return Response(status_code=304, media_type=JSON, headers=headers)
    return json_response(body, headers=headers)


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
