"""Hostile input over real HTTP, against ``python -m api`` as a user runs it.

Requests are written byte by byte on a socket, so that nothing an HTTP client
library would refuse or normalize (control characters, raw non-ASCII, huge
heads, duplicate parameters) is kept from the server. Every answer must be the
one docs/decisions.md settles, as JSON, never a 500; uvicorn's own refusals
included. The read model sits in a Redis of its own, so that the test can
watch every command sent to it and check that none of this changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from redis import Redis

from devstack.redis import RedisServer, find_redis_server
from events.times import wall_clock_ms
from readmodel.keys import Control
from tests.builders import HOUR_MS, at, registration_created, scheduled, token_issued, token_revoked
from tests.system import System

# Every test here shares the ``hostile`` fixture (a Redis, a projector and an
# API of its own): one xdist worker runs them all, and it starts once. It is
# session-scoped because that worker may run other modules' tests between
# these, and a module fixture would be torn down and started again each time.
pytestmark = pytest.mark.xdist_group("hostile")

ORG, OTHER_ORG = 5, 6
SERIES = 412
MEMBER = 7001
LEADER = 4501  # leads every meeting (the builders' default leader)
MEETINGS = 25

# Raw tokens are distinctive, so that a copy of one anywhere can be found.
TOKEN = f"hostile-raw-token-{secrets.token_hex(8)}"
OTHER_TOKEN = f"hostile-raw-token-{secrets.token_hex(8)}"
REVOKED = f"hostile-raw-token-{secrets.token_hex(8)}"


def named_tokens(value: bytes) -> bytes:
    """``value`` with each raw token written as its name, for a test id: ids must not
    be random, or xdist workers collect different tests."""
    for name, token in (("TOKEN", TOKEN), ("OTHER_TOKEN", OTHER_TOKEN), ("REVOKED", REVOKED)):
        for form, label in (
            (token, name),
            (token.upper(), f"{name}.upper()"),
            (token[:-1], f"{name}[:-1]"),
        ):
            value = value.replace(form.encode(), f"<{label}>".encode())
    return value


UNAUTHORIZED = {"error": "Unauthorized Access"}
NOT_AUTHORIZED = {"error": "Not Authorized"}
BAD_SERIES = {"error": "Parameter meeting_series_id must be a positive integer"}
BAD_MEMBER = {"error": "Parameter member_id must be a positive integer"}
NOT_FOUND = {"error": "Not Found"}
BAD_REQUEST = {"error": "Bad Request"}

# Key-like and number-like strings, for every parameter.
KEY_LIKE = [
    "*",
    "?",
    "[5]",
    "{o1}",
    "{o5}",
    "o5}",
    "{5",
    "5}",
    ":",
    "5:*",
    "um:current",
    "*:current",
    "{m1}",
    "5:tok",
    "\\*",
    "5,6",
    "5;6",
    "5&page=2",
    "5#frag",
    "5?x=1",
    "%00",
    "%2F",
    "..",
    ".",
    "~",
    "'",
    '"',
    "\\",
    "null",
    "true",
    "[]",
    "{}",
]
NUMBER_LIKE = [
    "5",
    "05",
    "0005",
    "0",
    "00",
    "-0",
    "-5",
    "+5",
    " 5",
    "5 ",
    "5\t",
    "5.0",
    "5.",
    ".5",
    "5e0",
    "1e3",
    "5E2",
    "0x5",
    "0b101",
    "5_000",
    "Infinity",
    "-Infinity",
    "NaN",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "9" * 400,
    "1" + "0" * 3999,
    "\u0665",  # ARABIC-INDIC DIGIT FIVE
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "⁵",
    "5\u0305",
    "\ufeff5",
    "5\ufeff",
    "\u202e5",
    "5\x00",
    "\x00",
    "5\n",
    "\n5",
    "5\r\n",
    "\x7f",
    "\x1b[31m5",
    "é",
    "\U0001f600",
    "",
]
HOSTILE = KEY_LIKE + NUMBER_LIKE
MAX_TARGET_BYTES = 8192  # the documented limit of a request target
HEAD_TIMEOUT_S = 1.0  # API_HEAD_TIMEOUT_S of the API under test


# --- a raw HTTP/1.1 client ----------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(port: int, request: bytes, timeout_s: float = 10) -> Answer:
    """Send ``request`` whole on a new connection, read the answer to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        # The server may refuse before reading everything: its answer counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> Answer:
    """One answer: a head and ``Content-Length`` bytes (the server sends no more
    until it is asked again)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed with no answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.strip().lower() not in headers, f"{name} twice in {head!r}"
        headers[name.strip().lower()] = value.strip()
    # Every answer, the server's own refusals included (api/headers.py).
    assert headers.get("x-content-type-options") == "nosniff", head
    assert "server" not in headers, head
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body[:length])


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")


def encode(value: str) -> bytes:
    """Percent-encoded but for letters, digits, ``-_~``: the server decodes it to ``value``."""
    return b"".join(
        bytes([byte]) if byte in _UNRESERVED else b"%%%02X" % byte for byte in value.encode()
    )


def target(org: str, member: str | None = None, query: Sequence[tuple[str, str]] = ()) -> bytes:
    path = b"/api/v2/organizations/" + encode(org)
    if member is not None:
        path += b"/members/" + encode(member)
    path += b"/upcoming_meetings"
    if query:
        path += b"?" + b"&".join(encode(name) + b"=" + encode(value) for name, value in query)
    return path


def request(
    path: bytes, authorization: bytes | None = None, headers: Sequence[bytes] = ()
) -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if authorization is not None:
        lines.append(b"Authorization: " + authorization)
    lines.extend(headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def bearer(token: str) -> bytes:
    return b"Bearer " + token.encode()


# --- what docs/decisions.md says the answer is ----------------------------------

_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)
_HTTP_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# params.py: a value of more digits than this is read as 10**4000 (documented).
_MAX_DIGITS = 4000


def as_integer(text: str) -> int | None:
    if not _INTEGER.fullmatch(text):
        return None
    digits = text.lstrip("-").lstrip("0") or "0"
    value = int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS
    return -value if text.startswith("-") else value


def as_positive(text: str) -> int | None:
    value = as_integer(text) if not text.startswith("-") else None
    return value if value is not None and value >= 1 else None


def token_of(authorization: bytes | None) -> str | None:
    """The token per docs/decisions.md, HTTP whitespace (SP, HTAB) only."""
    if authorization is None:
        return None
    match = re.fullmatch(rb"[ \t]*([^ \t]+)([ \t].*)?", authorization, re.DOTALL)
    if match is None or match.group(1).lower() != b"bearer":
        return None
    token = (match.group(2) or b"").strip(b" \t")
    return token.decode("latin-1") if token else None


@dataclass
class ReadModel:
    """The lists the test published, as the API answered them with ``items=100``."""

    lists: dict[tuple[int, int | None, int | None], list[dict[str, Any]]] = field(
        default_factory=dict
    )

    def list_of(self, org: int, member: int | None, series: int | None) -> list[dict[str, Any]]:
        return self.lists.get((org, member, series), [])


def last(query: Sequence[tuple[str, str]], name: str) -> list[str | None]:
    """The values a server may take for ``name``: the first or the last given (spec silent)."""
    values = [value for key, value in query if key == name]
    return [None] if not values else [values[0], values[-1]]


def allowed(
    model: ReadModel,
    org: str,
    member: str | None,
    query: Sequence[tuple[str, str]],
    authorization: bytes | None,
) -> list[tuple[int, Any]]:
    """Every (status, body) docs/decisions.md allows for this request."""
    if authorization is not None and _HTTP_CTL.search(authorization):
        return [(400, BAD_REQUEST)]
    if not org or "/" in org or (member is not None and (not member or "/" in member)):
        return [(404, NOT_FOUND)]
    token = token_of(authorization)
    owner = {TOKEN: ORG, OTHER_TOKEN: OTHER_ORG}.get(token or "")
    if owner is None:
        return [(401, UNAUTHORIZED)]
    if as_positive(org) != owner:
        return [(401, NOT_AUTHORIZED)]
    member_id = None if member is None else as_positive(member)
    if member is not None and member_id is None:
        return [(422, BAD_MEMBER)]
    answers = []
    for series in last(query, "meeting_series_id"):
        series_id = None if series is None else as_positive(series)
        if series is not None and series_id is None:
            answers.append((422, BAD_SERIES))
            continue
        meetings = model.list_of(owner, member_id, series_id)
        for page_text in last(query, "page"):
            for items_text in last(query, "items"):
                items = 20 if items_text is None else as_integer(items_text)
                items = 20 if items is None else min(max(items, 1), 100)
                page = 1 if page_text is None else as_integer(page_text)
                page = page if page is not None and page >= 1 else 1
                body = {
                    "current_page": page,
                    "items": items,
                    "total_items": len(meetings),
                    "total_pages": -(-len(meetings) // items),
                    "meetings": meetings[(page - 1) * items : page * items],
                }
                answers.append((200, body))
    return answers


def check(
    api_port: int,
    model: ReadModel,
    org: str,
    member: str | None = None,
    query: Sequence[tuple[str, str]] = (),
    authorization: bytes | None = None,
) -> Answer:
    path = target(org, member, query)
    answer = exchange(api_port, request(path, authorization))
    what = f"GET {path[:300]!r} Authorization: {(authorization or b'')[:100]!r}"
    assert answer.headers.get("content-type") == "application/json", (what, answer)
    got = (answer.status, answer.json() if answer.body else None)
    expected = allowed(model, org, member, query, authorization)
    if len(path) > MAX_TARGET_BYTES:
        # The parser may refuse a malformed header (400) before the target's
        # length is checked, once the head is whole (api/server.py).
        expected = [(414, {"error": "URI Too Long"}), *(e for e in expected if e[0] == 400)]
    assert got in expected, (what, got, expected[:2])
    return answer


# --- the system under test ------------------------------------------------------


@dataclass(repr=False)
class Hostile:
    system: System
    redis_url: str
    model: ReadModel

    @property
    def port(self) -> int:
        return self.system.api_port

    def __repr__(self) -> str:
        return f"Hostile(port={self.port})"

    def check(self, org: str = str(ORG), member: str | None = None, **kwargs: Any) -> Answer:
        return check(self.port, self.model, org, member, **kwargs)


def published() -> list[dict[str, Any]]:
    now = wall_clock_ms()
    events: list[dict[str, Any]] = []
    for n in range(1, MEETINGS + 1):
        start = now + (24 + n) * HOUR_MS
        events.append(
            scheduled(
                meeting_id=n,
                organization_id=ORG,
                start_time=at(start),
                end_time=at(start + HOUR_MS),
                meeting_series_id=SERIES if n % 3 == 0 else None,
            )
        )
        if n % 4 == 0:
            events.append(registration_created(registration_id=n, meeting_id=n, user_id=MEMBER))
    for n in (101, 102):
        start = now + n * HOUR_MS
        events.append(
            scheduled(
                meeting_id=n,
                organization_id=OTHER_ORG,
                start_time=at(start),
                end_time=at(start + HOUR_MS),
                meeting_series_id=None,
            )
        )
    events += [
        token_issued(organization_id=ORG, token=TOKEN),
        token_issued(organization_id=OTHER_ORG, token=OTHER_TOKEN),
        token_issued(organization_id=ORG, token=REVOKED),
        token_revoked(organization_id=ORG, token=REVOKED),
    ]
    return events


@pytest.fixture(scope="session")
def hostile(
    kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    """Projector and API on a Redis of their own, with two organizations' lists."""
    try:
        find_redis_server()
    except Exception as exc:
        pytest.skip(str(exc))
    with RedisServer(log_dir=tmp_path_factory.mktemp("redis")) as redis_server:
        system = System(
            kafka_bootstrap_servers,
            redis_server.url,
            f"t{secrets.token_hex(4)}",
            tmp_path_factory.mktemp("hostile"),
        )
        try:
            system.start("projector")
            # Hundreds of failed authentications come from this one client:
            # the limiter (tests/integration/test_api_ratelimit.py) is off here.
            system.start("api", API_HEAD_TIMEOUT_S=str(HEAD_TIMEOUT_S), API_AUTH_FAILURE_LIMIT="0")
            system.wait_for(lambda: system.get("/readyz").status_code == 200, "the API")
            asyncio.run(system.publish(published()))
            asyncio.run(system.wait_caught_up())
            model = ReadModel()
            for org, token in ((ORG, TOKEN), (OTHER_ORG, OTHER_TOKEN)):
                for member in (None, MEMBER, LEADER):
                    for series in (None, SERIES):
                        path = target(
                            str(org),
                            None if member is None else str(member),
                            [("items", "100")]
                            + ([] if series is None else [("meeting_series_id", str(series))]),
                        )
                        answer = exchange(system.api_port, request(path, bearer(token)))
                        assert answer.status == 200, answer
                        model.lists[(org, member, series)] = answer.json()["meetings"]
            # The baseline is what was published.
            assert [m["id"] for m in model.list_of(ORG, None, None)] == list(range(1, MEETINGS + 1))
            assert [m["id"] for m in model.list_of(ORG, None, SERIES)] == list(
                range(3, MEETINGS + 1, 3)
            )
            assert [m["id"] for m in model.list_of(ORG, MEMBER, None)] == list(
                range(4, MEETINGS + 1, 4)
            )
            assert [m["id"] for m in model.list_of(ORG, MEMBER, SERIES)] == [12, 24]
            assert [m["id"] for m in model.list_of(ORG, LEADER, None)] == list(
                range(1, MEETINGS + 1)
            )
            assert [m["id"] for m in model.list_of(OTHER_ORG, None, None)] == [101, 102]
            assert model.list_of(OTHER_ORG, None, SERIES) == []
            yield Hostile(system, redis_server.url, model)
        finally:
            system.stop()


# --- uvicorn's own limits ---------------------------------------------------------


def test_a_request_head_within_the_limits_is_served(hostile: Hostile) -> None:
    """7 KB of query and 15 KB of headers in 90 headers: under every limit."""
    path = target(str(ORG)) + b"?page=1&items=20&x=" + b"a" * 7000
    headers = [b"X-Filler-%d: %s" % (n, b"b" * 150) for n in range(88)]
    answer = exchange(hostile.port, request(path, bearer(TOKEN), headers))
    assert answer.status == 200, answer
    assert [m["id"] for m in answer.json()["meetings"]] == list(range(1, 21))


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("a 9 KB request target", 414, "URI Too Long"),
        ("a 1 MB request target", 414, "URI Too Long"),
        ("a 20 KB header", 431, "Request Header Fields Too Large"),
        ("a 1 MB header", 431, "Request Header Fields Too Large"),
        ("a 20 KB Authorization header", 431, "Request Header Fields Too Large"),
        ("101 headers", 431, "Request Header Fields Too Large"),
        ("10,000 headers", 431, "Request Header Fields Too Large"),
        ("a header that never ends", 431, "Request Header Fields Too Large"),
    ],
)
def test_an_oversized_request_head_gets_a_json_error(
    hostile: Hostile, name: str, status: int, message: str
) -> None:
    path = target(str(ORG))
    auth = bearer(TOKEN)
    raw = {
        "a 9 KB request target": request(path + b"?x=" + b"a" * 9000, auth),
        "a 1 MB request target": request(path + b"?x=" + b"a" * 1_000_000, auth),
        "a 20 KB header": request(path, auth, [b"X-Big: " + b"a" * 20_000]),
        "a 1 MB header": request(path, auth, [b"X-Big: " + b"a" * 1_000_000]),
        "a 20 KB Authorization header": request(path, bearer("t" * 20_000)),
        "101 headers": request(path, auth, [b"X-%d: y" % n for n in range(98)]),
        "10,000 headers": request(path, auth, [b"X-%d: y" % n for n in range(10_000)]),
        # No end of line: only the bytes of the head bound what is read.
        "a header that never ends": b"GET " + path + b" HTTP/1.1\r\nX-Big: " + b"a" * 200_000,
    }[name]
    answer = exchange(hostile.port, raw)
    assert (answer.status, answer.headers.get("content-type")) == (status, "application/json")
    assert answer.json() == {"error": message}
    assert answer.headers.get("connection") == "close"


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /api/v2/organizations/5/upcoming_meetings HTTP/1.1\r\n"
        b"Authorization: Bearer a\x01b\r\n\r\n",
        b"GET /api/v2/organizations/5/upcoming_meetings HTTP/1.1\r\n"
        b"Authorization: Bearer a\x00b\r\n\r\n",
        b"GET /api/v2/organizations/5/upcoming_meetings HTTP/1.1\r\nX-\x01: y\r\n\r\n",
        b"GET /api/v2/organizations/5 5/upcoming_meetings HTTP/1.1\r\n\r\n",
        b"GET /api/v2/organizations/\xc3\xa9/upcoming_meetings HTTP/1.1\r\n\r\n",
        b"GET /api/v2/organizations/5/upcoming_meetings?x=\x00 HTTP/1.1\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",  # a TLS hello
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    ],
    ids=lambda raw: repr(raw[:60]),
)
def test_a_request_the_parser_refuses_gets_a_json_400(hostile: Hostile, raw: bytes) -> None:
    answer = exchange(hostile.port, raw)
    assert (answer.status, answer.headers.get("content-type")) == (400, "application/json")
    assert answer.json() == BAD_REQUEST


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET ", b"GET /api/v2/organizations/5/upcoming_meetings HTTP/1.1\r\nX-A: 1\r\n"],
    ids=["nothing", "a method", "a partial head"],
)
def test_a_connection_that_sends_no_whole_head_in_time_gets_a_json_408(
    hostile: Hostile, sent: bytes
) -> None:
    """uvicorn alone would keep it open for ever (a slowloris holds every descriptor)."""
    with socket.create_connection(("127.0.0.1", hostile.port), timeout=10 * HEAD_TIMEOUT_S) as sock:
        sock.sendall(sent)
        data = b""
        while chunk := sock.recv(65536):  # to the end: the server closes the connection
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), data
    assert b"content-type: application/json" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
    assert b"server:" not in head.lower()
    assert json.loads(body) == {"error": "Request Timeout"}


def test_a_keep_alive_connection_idle_between_requests_is_not_timed_out(hostile: Hostile) -> None:
    """The head timeout counts from a head's first byte, not from the last request."""
    raw = b"GET " + target(str(ORG)) + b" HTTP/1.1\r\nAuthorization: " + bearer(TOKEN) + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", hostile.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(raw)
            answer = read_answer(sock)
            assert answer.status == 200, answer
            time.sleep(1.5 * HEAD_TIMEOUT_S)  # idle, within uvicorn's keep-alive (5 s)
        # The next head, begun and never finished, is timed out.
        sock.sendall(raw[:20])
        answer = read_answer(sock)
    assert (answer.status, answer.json()) == (408, {"error": "Request Timeout"})


@pytest.mark.parametrize(
    "path",
    [
        b"/",
        b"/nope",
        b"/api/v2/organizations/5/upcoming_meetings/",
        b"/api/v2/organizations//upcoming_meetings",
    ],
)
def test_a_path_no_route_matches_gets_a_json_404(hostile: Hostile, path: bytes) -> None:
    """Not a redirect either: a redirect's Location would echo the Host header."""
    answer = exchange(hostile.port, request(path, bearer(TOKEN), [b"X-Forwarded-Host: evil"]))
    assert (answer.status, answer.headers.get("content-type")) == (404, "application/json")
    assert answer.json() == NOT_FOUND
    assert "location" not in answer.headers


def test_another_method_gets_a_json_405(hostile: Hostile) -> None:
    raw = (
        b"POST " + target(str(ORG)) + b" HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    answer = exchange(hostile.port, raw)
    assert (answer.status, answer.headers.get("content-type")) == (405, "application/json")
    assert answer.json() == {"error": "Method Not Allowed"}


# --- every parameter --------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: repr(value[:12]))
def test_hostile_organization_id(hostile: Hostile, value: str) -> None:
    hostile.check(value, authorization=bearer(TOKEN))


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: repr(value[:12]))
def test_hostile_member_id(hostile: Hostile, value: str) -> None:
    hostile.check(member=value, authorization=bearer(TOKEN))


@pytest.mark.parametrize("name", ["meeting_series_id", "page", "items"])
def test_hostile_query_parameters(hostile: Hostile, name: str) -> None:
    for value in HOSTILE:
        hostile.check(query=[(name, value)], authorization=bearer(TOKEN))
        hostile.check(member=str(MEMBER), query=[(name, value)], authorization=bearer(TOKEN))


def test_duplicate_query_parameters(hostile: Hostile) -> None:
    for name in ("meeting_series_id", "page", "items"):
        for first, second in [(str(SERIES), "abc"), ("abc", str(SERIES)), ("2", "3"), ("1", "")]:
            hostile.check(query=[(name, first), (name, second)], authorization=bearer(TOKEN))


@pytest.mark.parametrize(
    "authorization",
    [
        b"",
        b"Bearer",
        b"Bearer ",
        b"Bearer \t ",
        b"Bearer *",
        b"Bearer {o5}",
        b"Bearer um:current",
        b"Bearer " + TOKEN.encode() + b"*",
        b"Bearer " + TOKEN.encode()[:-1],
        b"Bearer " + TOKEN.upper().encode(),
        b"Bearer " + TOKEN.encode() + b" extra",
        b"Bearer\t" + TOKEN.encode() + b"\t",
        b"bEaReR   " + TOKEN.encode(),
        b"Bearer\xa0" + TOKEN.encode(),
        b"Bearer " + TOKEN.encode() + b"\xa0",
        b"Bearer " + TOKEN.encode() + b"\x00",
        b"Bearer " + TOKEN.encode() + b"\x1b",
        b"Bearer " + TOKEN.encode() + b"\x7f",
        b"Bearer " + TOKEN.encode() + b"%00",
        b"Bearer " + "jeton-é".encode(),
        b"Bearer \xff\xfe",
        b"Bearer " + REVOKED.encode(),
        b"Bearer " + OTHER_TOKEN.encode(),
        b"Basic " + TOKEN.encode(),
        b"Bearer" + TOKEN.encode(),
        TOKEN.encode(),
        b"Bearer " + b"a" * 8000,
    ],
    ids=lambda value: repr(named_tokens(value)[:40]),
)
def test_hostile_authorization(hostile: Hostile, authorization: bytes) -> None:
    hostile.check(authorization=authorization)
    hostile.check(member=str(MEMBER), authorization=authorization)


def test_two_authorization_headers_are_not_an_error(hostile: Hostile) -> None:
    """The spec is silent: one of the two is used, and the answer is that one's."""
    for first, second in [(TOKEN, "nope"), ("nope", TOKEN)]:
        raw = request(target(str(ORG)), bearer(first), [b"Authorization: " + bearer(second)])
        answer = exchange(hostile.port, raw)
        assert (answer.status, answer.headers.get("content-type"))[1] == "application/json"
        assert answer.status in (200, 401), answer
        assert answer.status == 200 or answer.json() == UNAUTHORIZED


hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.from_regex(r"[-+ ]?0*[0-9]{1,25}[ .e]?", fullmatch=True),
)
query = st.lists(
    st.tuples(
        st.sampled_from(["meeting_series_id", "page", "items", "Page", "items[]", "page\x00"]),
        st.one_of(hostile_text, st.sampled_from(["1", "2", "3", str(SERIES), "100"])),
    ),
    max_size=5,
)
# A header value holds no CR or LF: sent raw, they would end the header (and
# start another), which is another request, not another value.
value_bytes = st.binary(max_size=30).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))
authorization = st.one_of(
    st.none(),
    st.just(bearer(TOKEN)),
    st.just(bearer(OTHER_TOKEN)),
    st.builds(
        lambda scheme, space, token, tail: scheme + space + token + tail,
        st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b""]),
        st.sampled_from([b" ", b"\t", b"  ", b"", b"\xa0"]),
        st.sampled_from([TOKEN.encode(), OTHER_TOKEN.encode(), REVOKED.encode(), b""]),
        value_bytes.map(lambda raw: raw[:4]),
    ),
    value_bytes,
)


REQUESTS = {
    "org": st.one_of(st.sampled_from([str(ORG), str(OTHER_ORG), "0005"]), hostile_text),
    "member": st.one_of(st.none(), st.just(str(MEMBER)), hostile_text),
    "query": query,
    "authorization": authorization,
}
# A falsifying example may hold 4,000-digit strings: report it all the same.
LARGE_REPR = pytest.mark.filterwarnings("ignore:Generating overly large repr")
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(hypothesis.HealthCheck),
    "database": None,
}


@LARGE_REPR
@hypothesis.given(**REQUESTS)
@hypothesis.settings(max_examples=300, **SETTINGS)
def test_any_request_gets_the_documented_answer(
    hostile: Hostile,
    org: str,
    member: str | None,
    query: list[tuple[str, str]],
    authorization: bytes | None,
) -> None:
    hostile.check(org, member, query=query, authorization=authorization)


@pytest.mark.slow
@LARGE_REPR
@hypothesis.given(**REQUESTS)
@hypothesis.settings(max_examples=5000, **SETTINGS)
def test_any_request_gets_the_documented_answer_long(
    hostile: Hostile,
    org: str,
    member: str | None,
    query: list[tuple[str, str]],
    authorization: bytes | None,
) -> None:
    """The same, 5,000 examples (a few minutes)."""
    hostile.check(org, member, query=query, authorization=authorization)


# --- the read model is only ever read, and only the organization's own keys --------


def snapshot(redis: Redis, namespace: str) -> dict[bytes, bytes]:
    """Every key and its serialized value, the projector's heartbeats left out."""
    heartbeats = Control(namespace).heartbeats.encode()
    return {key: redis.dump(key) for key in redis.scan_iter(count=1000) if key != heartbeats}


class Monitor:
    """Every command Redis receives, from a thread running MONITOR."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)
        self.commands: list[str] = []
        self.marker = f"hostile-end-{secrets.token_hex(4)}"
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.redis.monitor() as monitor:
            self.ready.set()
            while True:
                command = monitor.next_command()["command"]
                if self.marker in command:
                    return
                self.commands.append(command)

    def __enter__(self) -> Monitor:
        self.thread.start()
        assert self.ready.wait(10)
        time.sleep(0.2)  # MONITOR is in force once Redis has answered it
        return self

    def __exit__(self, *exc: object) -> None:
        self.redis.echo(self.marker)
        self.thread.join(10)
        self.redis.close()


def test_hostile_input_never_reaches_a_key_and_changes_nothing(hostile: Hostile) -> None:
    redis = Redis.from_url(hostile.redis_url)
    namespace = hostile.system.namespace
    try:
        before = snapshot(redis, namespace)
        with Monitor(hostile.redis_url) as monitor:
            for value in [*KEY_LIKE, Control(namespace).current, f"{namespace}:1:{{o5}}:tok"]:
                hostile.check(value, authorization=bearer(TOKEN))
                hostile.check(member=value, authorization=bearer(TOKEN))
                hostile.check(query=[("meeting_series_id", value)], authorization=bearer(TOKEN))
                hostile.check(
                    query=[("page", value), ("items", value)], authorization=bearer(TOKEN)
                )
                hostile.check(authorization=b"Bearer " + value.encode())
        after = snapshot(redis, namespace)
    finally:
        redis.close()
    assert monitor.thread.is_alive() is False
    assert len(monitor.commands) > 100, monitor.commands[:5]
    # Every key any command names is one of the layout's, ids all digits.
    key_shape = re.compile(
        rf"{namespace}:(?:\{{control\}}:[a-z]+(?::[a-z]+)?|positions"
        rf"|\d+:(?:orgs|layout|\{{p\d+\}}:positions|token:[0-9a-f]{{64}}"
        rf"|\{{o\d+\}}(?::[a-z]+(?::\d+)?)?|\{{m\d+\}}(?::[a-z]+)?))"
    )
    keys = {key for command in monitor.commands for key in re.findall(rf"{namespace}:\S*", command)}
    assert keys, monitor.commands[:5]
    odd = sorted(key for key in keys if not key_shape.fullmatch(key.strip("\"'")))
    assert not odd, odd
    # Only organizations 5 and 6 hold keys; requests for any other read none of theirs.
    organizations = {int(org) for key in keys for org in re.findall(r"\{o(\d+)\}", key)}
    assert organizations <= {ORG, OTHER_ORG}, organizations
    for marker in ("um:current", "{o1}", "5:tok", "*:current"):
        assert not [c for c in monitor.commands if marker in c], marker
    assert before.keys() == after.keys()
    assert before == after


# --- tokens: only ever hashes --------------------------------------------------


def every_string_in(redis: Redis) -> Iterator[bytes]:
    """Every key, and every value, field and member of every key."""
    for key in redis.scan_iter(count=1000):
        yield key
        kind = redis.type(key)
        if kind == b"string":
            yield redis.get(key) or b""
        elif kind == b"hash":
            for field_name, value in redis.hgetall(key).items():
                yield field_name
                yield value
        elif kind == b"set":
            yield from redis.smembers(key)
        elif kind == b"zset":
            yield from (member for member, _ in redis.zrange(key, 0, -1, withscores=True))
        elif kind == b"list":
            yield from redis.lrange(key, 0, -1)
        else:
            raise AssertionError(f"{key!r} is a {kind!r}")


def test_raw_tokens_are_never_stored_nor_logged(hostile: Hostile) -> None:
    """After tokens were issued, revoked, used, misused and guessed at."""
    for token in (TOKEN, OTHER_TOKEN, REVOKED, TOKEN + "x", TOKEN[:-1]):
        for org in (str(ORG), str(OTHER_ORG), "*"):
            hostile.check(org, authorization=bearer(token))
    raw_tokens = [t.encode() for t in (TOKEN, OTHER_TOKEN, REVOKED)]
    redis = Redis.from_url(hostile.redis_url)
    try:
        strings = list(every_string_in(redis))
    finally:
        redis.close()
    assert len(strings) > 100
    # The common stem of the raw tokens finds a token cut short or extended too.
    assert not [s for s in strings if b"hostile-raw-token" in s]
    logs = b"".join(path.read_bytes() for path in Path(hostile.system.log_dir).glob("*.log"))
    assert logs, "no logs to check"
    assert b"hostile-raw-token" not in logs
    for token in raw_tokens:
        assert token not in logs
