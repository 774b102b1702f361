"""The endpoint through the ASGI app, against real Redis (spec and docs/decisions.md).

Each test fills a read model with the projector's own store, then asks the app
the way a client would. Every response is checked to be application/json.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from api.settings import ApiSettings
from devstack.redis import RedisServer
from events.times import wall_clock_ms
from readmodel.keys import LAYOUT, Keyspace, entry
from readmodel.reader import READABLE_LAYOUTS
from readmodel.writer import RedisReadModel
from tests.builders import (
    MINUTE_MS,
    Event,
    at,
    eap_linked,
    leader,
    registration_canceled,
    registration_created,
    scheduled,
    token_issued,
    token_revoked,
)
from tests.examples import example_events, example_meetings
from tests.integration.helpers import changes_of, running_api

ORG = 5
TOKEN = "token-of-5"
OTHER_TOKEN = "token-of-6"
REVOKED_TOKEN = "revoked-token-of-5"
PATH = f"/api/v2/organizations/{ORG}/upcoming_meetings"
UNAUTHORIZED = {"error": "Unauthorized Access"}
NOT_AUTHORIZED = {"error": "Not Authorized"}
BAD_SERIES = {"error": "Parameter meeting_series_id must be a positive integer"}
UNAVAILABLE = {"error": "Service Unavailable"}
DAY_2099 = 4_083_004_800_000  # 2099-05-23T00:00:00.000Z
HOUR_MS = 60 * MINUTE_MS


def path(org: int | str) -> str:
    return f"/api/v2/organizations/{org}/upcoming_meetings"


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def future_meeting(meeting_id: int, org: int = ORG, hour: int = 0, **fields: Any) -> Event:
    """A one-hour meeting ``hour`` hours after 2099-05-23T00:00Z."""
    start = DAY_2099 + hour * HOUR_MS
    fields.setdefault("meeting_series_id", None)
    return scheduled(
        meeting_id, org, 1, start_time=at(start), end_time=at(start + HOUR_MS), **fields
    )


class ReadModel:
    """One generation of the read model, written by the projector's store."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.keyspace = Keyspace(prefix, "1")
        self.store = RedisReadModel(redis, self.keyspace)

    async def serve(self, *events: Event) -> ReadModel:
        await self.redis.set(self.keyspace.current, self.keyspace.generation)
        await self.publish(
            token_issued(ORG, TOKEN),
            token_issued(6, OTHER_TOKEN),
            token_issued(ORG, REVOKED_TOKEN),
            token_revoked(ORG, REVOKED_TOKEN),
            *events,
        )
        return self

    async def publish(self, *events: Event) -> None:
        await self.store.apply(changes_of(events))


class Api:
    """An HTTP client of the app; every response must be JSON."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(
        self,
        url: str = PATH,
        headers: dict[str, str] | None = None,
        **params: str | int,
    ) -> httpx.Response:
        response = await self.client.get(url, headers=headers, params=params)
        assert response.headers["content-type"] == "application/json", response.headers
        return response

    async def page(self, url: str = PATH, token: str = TOKEN, **params: str | int) -> Any:
        response = await self.get(url, bearer(token), **params)
        assert response.status_code == 200, response.text
        return json.loads(response.content)

    async def ids(self, url: str = PATH, **params: str | int) -> list[int]:
        body = await self.page(url, **params)
        return [meeting["id"] for meeting in body["meetings"]]


@asynccontextmanager
async def api_of(redis_url: str, prefix: str) -> AsyncIterator[Api]:
    async with running_api(redis_url, prefix) as client:
        yield Api(client)


@pytest.fixture
async def model(redis: Redis, namespace: str) -> ReadModel:
    return await ReadModel(redis, namespace).serve()


@pytest.fixture
async def api(redis_url: str, namespace: str) -> AsyncIterator[Api]:
    async with api_of(redis_url, namespace) as api:
        yield api


# -- the source document's example ----------------------------------------------

EXAMPLE_MEETINGS = example_meetings(2099)
EXAMPLE_EVENTS = example_events(2099, ORG)


def field_order(value: Any) -> Any:
    """The keys of every object, in order, at every depth."""
    if isinstance(value, dict):
        return [(key, field_order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [field_order(item) for item in value]
    return None


async def test_the_source_documents_example(model: ReadModel, api: Api) -> None:
    await model.publish(*EXAMPLE_EVENTS)

    body = await api.page(page=1, items=20)

    expected = {
        "current_page": 1,
        "items": 20,
        "total_items": 2,
        "total_pages": 1,
        "meetings": EXAMPLE_MEETINGS,
    }
    assert body == expected
    assert field_order(body) == field_order(expected)


async def test_the_source_documents_example_request_with_its_series(
    model: ReadModel, api: Api
) -> None:
    await model.publish(*EXAMPLE_EVENTS)

    body = await api.page(meeting_series_id=412, page=1, items=20)

    assert body == {
        "current_page": 1,
        "items": 20,
        "total_items": 1,
        "total_pages": 1,
        "meetings": EXAMPLE_MEETINGS[:1],
    }


# -- request handling, in the order of docs/decisions.md ------------------------


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, UNAUTHORIZED),
        ("Basic x", UNAUTHORIZED),
        (f"Basic {TOKEN}", UNAUTHORIZED),
        ("Bearer", UNAUTHORIZED),
        ("Bearer    ", UNAUTHORIZED),
        (f"Bearer{TOKEN}", UNAUTHORIZED),
        ("Bearer no-such-token", UNAUTHORIZED),
        (f"Bearer {REVOKED_TOKEN}", UNAUTHORIZED),
        (f"Bearer {OTHER_TOKEN}", NOT_AUTHORIZED),
    ],
)
async def test_refused_tokens(
    model: ReadModel, api: Api, authorization: str | None, expected: dict[str, str]
) -> None:
    headers = None if authorization is None else {"Authorization": authorization}

    response = await api.get(PATH, headers)

    assert (response.status_code, response.json()) == (401, expected)


@pytest.mark.parametrize("authorization", [f"bearer {TOKEN}", f"BEARER \t {TOKEN}  "])
async def test_the_scheme_is_case_insensitive_and_whitespace_is_trimmed(
    model: ReadModel, api: Api, authorization: str
) -> None:
    await model.publish(future_meeting(1))

    response = await api.get(PATH, {"Authorization": authorization})

    assert response.status_code == 200
    assert response.json()["total_items"] == 1


@pytest.mark.parametrize("org", ["abc", "0", "-5", "5.0", "+5", "6"])
async def test_a_path_organization_other_than_the_tokens_is_not_authorized(
    model: ReadModel, api: Api, org: str
) -> None:
    response = await api.get(path(org), bearer())

    assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)


async def test_an_unknown_token_is_unauthorized_whatever_the_path(
    model: ReadModel, api: Api
) -> None:
    response = await api.get(path("abc"), bearer("no-such-token"))

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


async def test_leading_zeros_name_the_same_organization(model: ReadModel, api: Api) -> None:
    await model.publish(future_meeting(1))

    assert await api.ids(path("005")) == [1]


@pytest.mark.parametrize(
    "series", ["", "0", "00", "-3", "+3", " 3", "3 ", "3.0", "abc", "1e3", "\u0663", "\uff13"]
)
async def test_a_bad_series_is_422_once_the_token_is_good(
    model: ReadModel, api: Api, series: str
) -> None:
    response = await api.get(PATH, bearer(), meeting_series_id=series)

    assert (response.status_code, response.json()) == (422, BAD_SERIES)


@pytest.mark.parametrize(
    ("url", "token", "expected"),
    [
        (PATH, "no-such-token", UNAUTHORIZED),
        (PATH, REVOKED_TOKEN, UNAUTHORIZED),
        (PATH, OTHER_TOKEN, NOT_AUTHORIZED),
        (path("abc"), TOKEN, NOT_AUTHORIZED),
    ],
)
async def test_a_bad_series_with_a_bad_token_is_401(
    model: ReadModel, api: Api, url: str, token: str, expected: dict[str, str]
) -> None:
    response = await api.get(url, bearer(token), meeting_series_id="abc")

    assert (response.status_code, response.json()) == (401, expected)


async def test_a_series_with_leading_zeros_is_that_series(model: ReadModel, api: Api) -> None:
    await model.publish(future_meeting(1, meeting_series_id=412), future_meeting(2, hour=1))

    assert await api.ids(meeting_series_id="0412") == [1]


# -- pagination -------------------------------------------------------------------


@pytest.fixture
async def meetings_25(model: ReadModel) -> list[int]:
    await model.publish(*(future_meeting(n, hour=n) for n in range(1, 26)))
    return list(range(1, 26))


async def test_default_pagination(meetings_25: list[int], api: Api) -> None:
    body = await api.page()

    assert {key: body[key] for key in ("current_page", "items", "total_items", "total_pages")} == {
        "current_page": 1,
        "items": 20,
        "total_items": 25,
        "total_pages": 2,
    }
    assert [meeting["id"] for meeting in body["meetings"]] == meetings_25[:20]
    assert await api.ids(page=2) == meetings_25[20:]


@pytest.mark.parametrize(
    ("items", "used"),
    [
        ("1", 1),
        ("7", 7),
        ("07", 7),
        ("10", 10),
        ("24", 24),
        ("25", 25),
        ("100", 100),
        ("0", 1),
        ("-4", 1),
        (f"-{10**30}", 1),
        ("101", 100),
        ("1000", 100),
        (str(10**30), 100),
        ("", 20),
        ("abc", 20),
        ("1.5", 20),
        ("+5", 20),
        (" 5", 20),
    ],
)
async def test_items_is_clamped_and_echoed(
    meetings_25: list[int], api: Api, items: str, used: int
) -> None:
    body = await api.page(items=items)

    assert (body["items"], body["total_items"], body["total_pages"]) == (
        used,
        25,
        math.ceil(25 / used),
    )
    assert [meeting["id"] for meeting in body["meetings"]] == meetings_25[:used]


@pytest.mark.parametrize(
    ("page", "used"), [("2", 2), ("02", 2), ("0", 1), ("-1", 1), ("", 1), ("abc", 1), ("2.0", 1)]
)
async def test_page_is_read_as_decisions_md_says(
    meetings_25: list[int], api: Api, page: str, used: int
) -> None:
    body = await api.page(page=page, items=10)

    assert body["current_page"] == used
    assert [meeting["id"] for meeting in body["meetings"]] == meetings_25[(used - 1) * 10 :][:10]


async def test_the_last_page_and_past_it(meetings_25: list[int], api: Api) -> None:
    assert await api.ids(page=3, items=10) == meetings_25[20:]

    for page in (4, 5, 10**30):
        body = await api.page(page=page, items=10)
        assert body == {
            "current_page": page,
            "items": 10,
            "total_items": 25,
            "total_pages": 3,
            "meetings": [],
        }


async def test_no_meetings_is_zero_pages(model: ReadModel, api: Api) -> None:
    assert await api.page() == {
        "current_page": 1,
        "items": 20,
        "total_items": 0,
        "total_pages": 0,
        "meetings": [],
    }


# -- the list -----------------------------------------------------------------------


async def test_the_series_filter(model: ReadModel, api: Api) -> None:
    await model.publish(
        future_meeting(1, meeting_series_id=412),
        future_meeting(2, hour=1, meeting_series_id=413),
        future_meeting(3, hour=2, meeting_series_id=412),
        future_meeting(4, hour=3),
        future_meeting(5, 6, meeting_series_id=600),
    )

    assert await api.ids() == [1, 2, 3, 4]
    assert await api.ids(meeting_series_id=412) == [1, 3]
    assert await api.ids(meeting_series_id=413) == [2]
    for unknown in (999, 600):  # 600 is a series of another organization
        assert await api.page(meeting_series_id=unknown) == {
            "current_page": 1,
            "items": 20,
            "total_items": 0,
            "total_pages": 0,
            "meetings": [],
        }


async def test_an_eap_organization_lists_and_filters_its_hpc_meetings(
    model: ReadModel, api: Api
) -> None:
    await model.publish(
        eap_linked(ORG, 8),
        future_meeting(1, meeting_series_id=700, hour=2),
        future_meeting(2, 8, meeting_series_id=800, hour=1),
        future_meeting(3, 8, meeting_series_id=700, hour=3),
        future_meeting(4, 9, meeting_series_id=800),  # not linked
    )

    assert await api.ids() == [2, 1, 3]
    assert await api.ids(meeting_series_id=800) == [2]
    assert await api.ids(meeting_series_id=700) == [1, 3]


async def test_a_meeting_leaves_the_instant_it_ends_without_pruning(
    model: ReadModel, api: Api
) -> None:
    now = wall_clock_ms()
    end = now + 1500
    await model.publish(
        scheduled(
            1, ORG, 1, start_time=at(now - 10 * MINUTE_MS), end_time=at(end), meeting_series_id=None
        ),
        future_meeting(2),
        future_meeting(3, hour=1),
    )
    assert (await api.page(items=1))["total_items"] == 3
    assert await api.ids() == [1, 2, 3]  # in progress

    await asyncio.sleep((end - wall_clock_ms() + 100) / 1000)

    body = await api.page(items=1)
    assert (body["total_items"], body["total_pages"]) == (2, 2)
    assert [meeting["id"] for meeting in body["meetings"]] == [2]
    assert await api.ids(page=2, items=1) == [3]
    assert await api.ids(page=3, items=1) == []
    # The projector did not prune: the meeting is still in the list in Redis.
    assert await model.redis.zscore(model.keyspace.org(ORG).end, entry(1)) == end


# -- every response is JSON -------------------------------------------------------


async def test_every_response_is_json(model: ReadModel, api: Api) -> None:
    responses = [
        await api.get(PATH, bearer()),
        await api.get(PATH),
        await api.get(PATH, bearer(), meeting_series_id="x"),
        await api.get("/healthz"),
        await api.get("/readyz"),
        await api.get("/openapi.json"),
        await api.get("/no/such/path"),
    ]
    response = await api.client.post(PATH, headers=bearer())
    responses.append(response)

    assert [r.status_code for r in responses] == [200, 401, 422, 200, 200, 200, 404, 405]
    assert {r.headers["content-type"] for r in responses} == {"application/json"}


# -- health and unavailability ------------------------------------------------------


async def test_health_and_readiness(model: ReadModel, api: Api) -> None:
    healthz = await api.get("/healthz")
    readyz = await api.get("/readyz")

    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ready", "generation": "1"})


def assert_unavailable(response: httpx.Response) -> None:
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response.headers["retry-after"] == "1"


async def test_no_generation_is_503_not_401(redis: Redis, api: Api) -> None:
    # Nothing written under the namespace: "<prefix>:current" is missing.
    assert_unavailable(await api.get(PATH, bearer()))
    assert_unavailable(await api.get(PATH, bearer("no-such-token")))
    assert_unavailable(await api.get(path("abc"), bearer()))
    assert_unavailable(await api.get("/readyz"))
    assert (await api.get("/healthz")).status_code == 200


async def test_redis_down_then_back_empty_then_rebuilt(
    redis_server: RedisServer, namespace: str
) -> None:
    async with api_of(redis_server.url, namespace) as api:
        async with Redis.from_url(redis_server.url) as redis:
            await ReadModel(redis, namespace).serve(future_meeting(1))
        assert await api.ids() == [1]

        redis_server.stop()
        assert_unavailable(await api.get(PATH, bearer()))
        assert_unavailable(await api.get(PATH, bearer(), meeting_series_id="abc"))
        assert_unavailable(await api.get(path("abc"), bearer()))
        assert_unavailable(await api.get("/readyz"))
        assert (await api.get("/healthz")).status_code == 200
        unauthenticated = await api.get(PATH)  # step 1 needs no Redis
        assert (unauthenticated.status_code, unauthenticated.json()) == (401, UNAUTHORIZED)

        redis_server.start()  # on the same port, empty: the read model is gone
        for _ in range(3):
            assert_unavailable(await api.get(PATH, bearer()))
        assert_unavailable(await api.get("/readyz"))

        async with Redis.from_url(redis_server.url) as redis:
            await ReadModel(redis, namespace).serve(future_meeting(2))
        assert await api.ids() == [2]
        assert (await api.get("/readyz")).status_code == 200


async def test_the_app_closes_its_redis_connections_on_shutdown(
    redis_server: RedisServer, namespace: str
) -> None:
    async with Redis.from_url(redis_server.url) as redis:
        await ReadModel(redis, namespace).serve(future_meeting(1))
        app = create_app(ApiSettings(REDIS_URL=redis_server.url, REDIS_KEY_PREFIX=namespace))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            await asyncio.gather(*(Api(client).ids() for _ in range(5)))
            assert len(await redis.client_list()) > 1  # the app's connections and this one
        try:
            assert [client["id"] for client in await redis.client_list()] == [
                str(await redis.client_id())
            ]
        finally:
            await app.lists.reader.redis.connection_pool.disconnect()


# -- the OpenAPI document -------------------------------------------------------------


async def test_the_openapi_document(api: Api) -> None:
    response = await api.get("/openapi.json")
    document = response.json()

    member = "/api/v2/organizations/{organization_id}/members/{member_id}/upcoming_meetings"
    assert {"200", "401", "422", "503"} <= set(document["paths"][member]["get"]["responses"])
    operation = document["paths"]["/api/v2/organizations/{organization_id}/upcoming_meetings"]
    get = operation["get"]
    assert {"200", "400", "401", "422", "503"} <= set(get["responses"])
    assert "X-Consistency-Token" in get["responses"]["200"]["headers"]
    schemes = document["components"]["securitySchemes"]
    assert any(s == {"type": "http", "scheme": "bearer"} for s in schemes.values())
    [requirement] = get["security"]
    [(name, _scopes)] = requirement.items()
    assert schemes[name]["scheme"] == "bearer"
    parameters = {p["name"]: p["in"] for p in get["parameters"]}
    assert parameters == {
        "organization_id": "path",
        "meeting_series_id": "query",
        "page": "query",
        "items": "query",
        "X-Consistency-Token": "header",
        "Prefer": "header",
    }


# -- the Member's Upcoming Meetings endpoint ---------------------------------------


def member_path(member: int | str, org: int | str = ORG) -> str:
    return f"/api/v2/organizations/{org}/members/{member}/upcoming_meetings"


async def test_a_members_list_holds_what_they_registered_for_or_lead(
    model: ReadModel, api: Api
) -> None:
    await model.publish(
        eap_linked(ORG, 8),
        future_meeting(1, hour=1, meeting_series_id=700),
        future_meeting(2, hour=2, group_leader=leader(77, "Kim", "Lo")),
        future_meeting(3, hour=3, co_leader_ids=[77]),
        future_meeting(4, 8, hour=4, meeting_series_id=700),  # an HPC meeting
        future_meeting(5, hour=5),
        future_meeting(6, 9, hour=6),  # another organization's
        registration_created(1, 1, 77),
        registration_created(2, 4, 77),
        registration_created(3, 5, 77),
        registration_canceled(3, 5, 77),
        registration_created(4, 6, 77),
    )

    body = (await api.get(member_path(77), bearer(), items=2)).json()

    assert [m["id"] for m in body["meetings"]] == [1, 2]
    assert {k: body[k] for k in ("current_page", "items", "total_items", "total_pages")} == {
        "current_page": 1,
        "items": 2,
        "total_items": 4,
        "total_pages": 2,
    }
    page_2 = (await api.get(member_path(77), bearer(), items=2, page=2)).json()
    assert [m["id"] for m in page_2["meetings"]] == [3, 4]
    series = (await api.get(member_path(77), bearer(), meeting_series_id=700)).json()
    assert [m["id"] for m in series["meetings"]] == [1, 4]
    assert (await api.get(member_path(78), bearer())).json()["meetings"] == []


async def test_a_members_list_is_in_the_organizations_order(model: ReadModel, api: Api) -> None:
    # Equal starts in id order, 9 before 10 before 100 (members sort by id as
    # numbers), whatever order the member registered in.
    ids_and_hours = [(100, 1), (12, 1), (10, 1), (9, 1), (101, 0), (8, 2), (11, 1), (1000, 1)]
    await model.publish(*(future_meeting(i, hour=hour) for i, hour in ids_and_hours))
    await model.publish(
        *(registration_created(n, i, 77) for n, (i, _) in enumerate(ids_and_hours, 1))
    )

    organization = await api.ids(items=10)
    assert organization == [101, 9, 10, 11, 12, 100, 1000, 8]
    assert await api.ids(member_path(77), items=10) == organization
    pages = [await api.ids(member_path(77), items=4, page=page) for page in (1, 2)]
    assert pages == [organization[:4], organization[4:]]


async def test_a_members_list_of_a_layout_1_generation_is_read(model: ReadModel, api: Api) -> None:
    # ``model`` records no layout: a generation made before layouts were, layout 1,
    # which may keep a sorted set by start per member (before the users hash).
    await model.publish(future_meeting(1, hour=1), future_meeting(2, hour=2), future_meeting(3))
    keys = model.keyspace.org(ORG)
    await model.redis.zadd(
        keys.member_list_layout1(77), {entry(1): DAY_2099 + HOUR_MS, entry(3): DAY_2099}
    )

    assert await api.ids(member_path(77)) == [3, 1]
    assert await api.ids(member_path(78)) == []


async def test_a_layout_2_generation_reads_the_users_hash_only(model: ReadModel, api: Api) -> None:
    await model.redis.set(model.keyspace.layout, LAYOUT)
    await model.publish(future_meeting(1, hour=1), future_meeting(2, hour=2), future_meeting(3))
    await model.publish(registration_created(1, 2, 78))
    keys = model.keyspace.org(ORG)
    await model.redis.zadd(
        keys.member_list_layout1(77), {entry(1): DAY_2099 + HOUR_MS, entry(3): DAY_2099}
    )

    assert await api.ids(member_path(77)) == []  # no layout-1 list in a layout-2 generation
    assert await api.ids(member_path(78)) == [2]
    assert await api.ids() == [3, 1, 2]


async def test_a_generation_of_a_layout_the_api_does_not_know_is_503(
    model: ReadModel, api: Api
) -> None:
    await model.redis.set(model.keyspace.layout, max(READABLE_LAYOUTS) + 1)
    await model.publish(future_meeting(1))

    assert_unavailable(await api.get(PATH, bearer()))
    assert_unavailable(await api.get(member_path(77), bearer()))
    assert_unavailable(await api.get("/readyz"))
    assert (await api.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("member", "headers", "status", "body"),
    [
        ("0", bearer(), 422, {"error": "Parameter member_id must be a positive integer"}),
        ("x", bearer(), 422, {"error": "Parameter member_id must be a positive integer"}),
        ("7", bearer("nobody"), 401, {"error": "Unauthorized Access"}),
        ("x", bearer("nobody"), 401, {"error": "Unauthorized Access"}),
        ("7", {}, 401, {"error": "Unauthorized Access"}),
    ],
)
async def test_the_member_endpoint_checks_like_the_organizations(
    model: ReadModel,
    api: Api,
    member: str,
    headers: dict[str, str],
    status: int,
    body: dict[str, str],
) -> None:
    await model.publish(future_meeting(1))
    response = await api.get(member_path(member), headers)
    assert (response.status_code, response.json()) == (status, body)


# -- HTTP caching -------------------------------------------------------------------


async def test_a_page_carries_a_strong_etag_valid_exactly_as_long_as_the_answer(
    model: ReadModel, api: Api
) -> None:
    await model.publish(future_meeting(1), future_meeting(2, hour=1))

    first = await api.get(PATH, bearer())
    tag = first.headers["etag"]
    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.headers["vary"] == "Authorization"
    assert tag.startswith('"') and not tag.startswith("W/")

    again = await api.get(PATH, {**bearer(), "If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    other_page = await api.get(PATH, {**bearer(), "If-None-Match": tag}, items=1)
    assert other_page.status_code == 200 and other_page.headers["etag"] != tag

    await model.publish(registration_created(1, 1, 555))  # the answer changes
    changed = await api.get(PATH, {**bearer(), "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert changed.json()["meetings"][0]["registered_attendees"] == 1


async def test_errors_carry_no_etag(model: ReadModel, api: Api) -> None:
    await model.publish(future_meeting(1))
    response = await api.get(PATH, bearer("nobody"))
    assert response.status_code == 401 and "etag" not in response.headers
