"""``api/lists.py``: the route table's paths, what goes to the fallback, the answers' headers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.headers import NOSNIFF
from api.lists import (
    _TOKEN_KEPT_BYTES,
    _TOKENS_KEPT,
    ListEndpoints,
    error,
    page,
    preferred_wait_s,
)
from api.responses import entity_tag
from api.responses import error as starlette_error
from api.routes import LIST_ROUTES, MEMBER_LIST, ORGANIZATION_LIST, ListRoute, Parameter
from readmodel.reader import token_sha256

BODY = b'{"current_page":1,"items":20,"total_items":0,"total_pages":0,"meetings":[]}'
TAG = entity_tag(BODY)
POSITION = (b"x-consistency-token", b"meeting-events:0:7")
PAGE_HEADERS = [
    (b"etag", TAG.encode()),
    (b"cache-control", b"private, no-cache"),
    (b"vary", b"Authorization"),
]
JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize(
    ("path", "route", "groups"),
    [
        ("/api/v2/organizations/5/upcoming_meetings", ORGANIZATION_LIST, ("5",)),
        ("/api/v2/organizations/x%20y/upcoming_meetings", ORGANIZATION_LIST, ("x%20y",)),
        ("/api/v2/organizations/5/members/7/upcoming_meetings", MEMBER_LIST, ("5", "7")),
        ("/api/v2/organizations/5/members/-1/upcoming_meetings", MEMBER_LIST, ("5", "-1")),
    ],
)
def test_a_path_of_a_template_is_matched_with_its_parameters(
    path: str, route: ListRoute, groups: tuple[str, ...]
) -> None:
    matches = [(r, m.groups()) for r in LIST_ROUTES if (m := r.pattern.fullmatch(path))]
    assert matches == [(route, groups)]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/organizations//upcoming_meetings",
        "/api/v2/organizations/5/upcoming_meetings/",
        "/api/v2/organizations/5/6/upcoming_meetings",
        "/api/v2/organizations/5/members//upcoming_meetings",
        "/api/v2/organizations/5/members/7/8/upcoming_meetings",
        "/api/v2/organizations/5/upcoming_meetingsX",
        "/api/v2/organizationsX5/upcoming_meetings",
        "/v2/organizations/5/upcoming_meetings",
    ],
)
def test_other_paths_match_no_list(path: str) -> None:
    assert [r for r in LIST_ROUTES if r.pattern.fullmatch(path)] == []


def test_a_route_declares_exactly_the_parameters_of_its_template() -> None:
    organization = Parameter("organization_id", "path", "The organization.")
    member = Parameter("member_id", "path", "The member.")
    with pytest.raises(ValueError, match="path parameters"):
        ListRoute("/o/{organization_id}/m/{member_id}", "x", "x", (organization,))
    with pytest.raises(ValueError, match="path parameters"):
        ListRoute("/o/{organization_id}", "x", "x", (member,))
    route = ListRoute("/o/{organization_id}/m/{member_id}", "x", "x", (organization, member))
    assert route.pattern.fullmatch("/o/1/m/2") is not None


class Fallback:
    """An ASGI app that records what reached it and answers 204."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


async def call(app: ListEndpoints, **scope: Any) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    base = {"type": "http", "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    await app({**base, **scope}, receive, send)
    return sent


@pytest.mark.parametrize(
    "scope",
    [
        {"path": "/healthz"},
        {"path": "/api/v2/organizations/5/upcoming_meetings/"},
        {"path": "/mounted/api/v2/organizations/5/upcoming_meetings", "root_path": "/other"},
        {"path": "/mountedapi/v2/organizations/5/upcoming_meetings", "root_path": "/mounted"},
        {"type": "lifespan"},
    ],
    ids=str,
)
async def test_other_paths_go_to_the_fallback(scope: dict[str, Any]) -> None:
    fallback = Fallback()
    await call(ListEndpoints(fallback, retry_after_s=1), **scope)
    assert len(fallback.scopes) == 1


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda route: route.name)
@pytest.mark.parametrize("root_path", ["", "/mounted"])
async def test_a_get_of_a_list_is_answered_in_front(route: ListRoute, root_path: str) -> None:
    """Without a token, so that no read model is needed: 401."""
    fallback = Fallback()
    path = root_path + route.path.format(organization_id="5", member_id="7")
    lists = ListEndpoints(fallback, retry_after_s=1)
    sent = await call(lists, path=path, root_path=root_path)
    assert fallback.scopes == []
    start, body = sent
    assert start["status"] == 401
    assert orjson.loads(body["body"]) == {"error": "Unauthorized Access"}


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_another_method_of_a_list_is_405_as_fastapi_answers_it(method: str) -> None:
    fallback = Fallback()
    lists = ListEndpoints(fallback, retry_after_s=1)
    [start, body] = await call(
        lists, path="/api/v2/organizations/5/upcoming_meetings", method=method
    )
    assert fallback.scopes == []
    expected = starlette_error(405, "Method Not Allowed", {"Allow": "GET"})
    assert (start["status"], start["headers"], body["body"]) == (
        405,
        [*expected.raw_headers, NOSNIFF],
        expected.body,
    )


@pytest.mark.parametrize("condition", [None, '"nope"', "W/{tag}x"])
def test_a_page_is_200_with_its_headers(condition: str | None) -> None:
    sent = None if condition is None else condition.format(tag=TAG)
    length = (b"content-length", b"%d" % len(BODY))
    assert page(BODY, TAG.encode(), sent, POSITION) == (
        200,
        [*PAGE_HEADERS, length, JSON, NOSNIFF, POSITION],
        BODY,
    )


@pytest.mark.parametrize("condition", ["*", "{tag}", "W/{tag}", '"a", {tag}'])
def test_a_page_the_client_holds_is_304_with_no_body(condition: str) -> None:
    sent = condition.format(tag=TAG)
    assert page(BODY, TAG.encode(), sent, POSITION) == (
        304,
        [*PAGE_HEADERS, JSON, NOSNIFF, POSITION],
        b"",
    )


@pytest.mark.parametrize(
    ("status", "message", "extra"),
    [
        (401, "Unauthorized Access", None),
        (422, "Parameter member_id must be a positive integer", None),
        (503, "Service Unavailable", {"Retry-After": "1"}),
        (429, "Too Many Requests", {"Retry-After": "60"}),
    ],
)
def test_an_error_has_the_headers_of_the_fastapi_apps_errors(
    status: int, message: str, extra: dict[str, str] | None
) -> None:
    """Those of ``api.responses.error``, and nosniff last, as ``api/headers.py`` adds it."""
    expected = starlette_error(status, message, extra)
    raw_extra = [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]

    got = error(status, message, raw_extra)

    assert got == (expected.status_code, [*expected.raw_headers, NOSNIFF], expected.body)
    assert orjson.loads(got[2]) == {"error": message}


@pytest.mark.parametrize(
    ("prefer", "seconds"),
    [
        ("wait=1", 1),
        ("WAIT = 0", 0),
        ('respond-async, wait="3"', 3),
        ("handling=lenient; wait=2", 2),
        ("wait=", None),
        ("wait=1.5", None),
        ("wait=-1", None),
        ("wait=\u0661", None),
        ("respond-async", None),
        ("", None),
    ],
)
def test_the_wait_preference_is_read_as_rfc_7240_says(prefer: str, seconds: int | None) -> None:
    assert preferred_wait_s(prefer) == seconds


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    return None


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearerabc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_the_bearer_token_and_its_hash_are_those_of_the_header(
    authorization: str | None, token: str | None
) -> None:
    lists = ListEndpoints(_nothing, retry_after_s=1)
    for _ in range(2):  # the second time from what was kept
        expected = None if token is None else (token, token_sha256(token))
        assert lists._bearer(authorization) == expected


def test_the_tokens_kept_are_bounded() -> None:
    lists = ListEndpoints(_nothing, retry_after_s=1)
    for n in range(3 * _TOKENS_KEPT):
        assert lists._bearer(f"Bearer t{n}") == (f"t{n}", token_sha256(f"t{n}"))
        assert len(lists._tokens) <= _TOKENS_KEPT
    long = "Bearer " + "t" * _TOKEN_KEPT_BYTES
    assert lists._bearer(long) == ("t" * _TOKEN_KEPT_BYTES, token_sha256("t" * _TOKEN_KEPT_BYTES))
    assert long not in lists._tokens
