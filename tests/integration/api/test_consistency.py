"""X-Consistency-Token on the lists, against real Redis (docs/consistency.md).

The projector's record of positions is made by its own code
(``readmodel.positions.PositionBook``), as after a batch. Every test runs on
one Redis node and on a Redis Cluster of 3 primaries (one positions hash per
primary, the records published to every node); those of the wait run on both
lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from devstack.services import Services
from events.consistency import parse_token
from readmodel.keys import Keyspace
from readmodel.positions import PositionBook, runs_of
from readmodel.writer import RedisReadModel
from tests.builders import registration_created, token_issued
from tests.integration.api.test_api import (
    ORG,
    PATH,
    TOKEN,
    Api,
    ReadModel,
    bearer,
    future_meeting,
)
from tests.integration.helpers import running_api

TOPICS = ("meeting-events", "registration-events", "cancellation-events", "organization-events")
TOKEN_HEADER = "X-Consistency-Token"
MEMBER = 7
MEMBER_PATH = f"/api/v2/organizations/{ORG}/members/{MEMBER}/upcoming_meetings"
BOTH_LISTS = pytest.mark.parametrize("path", [PATH, MEMBER_PATH], ids=["list", "member"])


@pytest.fixture(scope="module", params=["node", "cluster"])
def redis_url(request: pytest.FixtureRequest, services: Services) -> str:
    """Every test here runs on one node and on a Redis Cluster."""
    if request.param == "cluster":
        url: str = request.getfixturevalue("redis_cluster").url
        return url
    return services.redis_url


@pytest.fixture
async def model(redis: Redis, namespace: str) -> ReadModel:
    """Meeting 1, which MEMBER is registered for."""
    return await ReadModel(redis, namespace).serve(
        future_meeting(1), registration_created(1, 1, MEMBER)
    )


@pytest.fixture
async def api(redis_url: str, namespace: str) -> AsyncIterator[Api]:
    async with running_api(redis_url, namespace, consistency_max_wait_ms=1500) as client:
        yield Api(client)


async def record(model: ReadModel, *entries: tuple[str, int, int]) -> None:
    """The projector's record after a batch of these (topic, partition, offset)."""
    book = PositionBook(model.redis, model.keyspace)
    try:
        await book.record(runs_of(entries))
    finally:
        await book.aclose()


def asking(token: str, **more: str) -> dict[str, str]:
    return {**bearer(), TOKEN_HEADER: token, **more}


async def test_every_page_carries_the_position_it_was_read_at(model: ReadModel, api: Api) -> None:
    await record(model, ("meeting-events", 0, 0), ("meeting-events", 0, 1))
    response = await api.get(PATH, bearer())
    assert response.status_code == 200
    # The records published may reach the API after the first answer: a later
    # answer carries them.
    for _ in range(200):
        response = await api.get(PATH, bearer())
        if response.headers[TOKEN_HEADER] == "meeting-events:0:1":
            break
        await asyncio.sleep(0.01)
    assert response.headers[TOKEN_HEADER] == "meeting-events:0:1"
    again = await api.get(PATH, {**bearer(), "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.headers[TOKEN_HEADER] == "meeting-events:0:1"
    member = await api.get(MEMBER_PATH, bearer())
    assert member.headers[TOKEN_HEADER] == "meeting-events:0:1"


@BOTH_LISTS
async def test_a_position_already_applied_is_answered_at_once(
    model: ReadModel, api: Api, path: str
) -> None:
    await record(model, ("registration-events", 3, 0), ("registration-events", 3, 1))
    response = await api.get(path, asking("registration-events:3:1"))
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["meetings"]] == [1]
    assert parse_token(response.headers[TOKEN_HEADER], TOPICS).covers(
        parse_token("registration-events:3:1", TOPICS)
    )
    assert "preference-applied" not in response.headers


@BOTH_LISTS
async def test_a_request_waits_for_its_position_then_sees_the_write(
    model: ReadModel, api: Api, path: str
) -> None:
    await record(model, ("meeting-events", 0, 0))
    waiting = asyncio.create_task(api.get(path, asking("meeting-events:0:1")))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    # The batch: its writes, then its record (as the projector does).
    await model.publish(future_meeting(2, hour=1), registration_created(2, 2, MEMBER))
    await record(model, ("meeting-events", 0, 1))
    response = await waiting
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["meetings"]] == [1, 2]
    assert response.headers[TOKEN_HEADER] == "meeting-events:0:1"


async def swap_in_generation_2(model: ReadModel) -> None:
    """A rebuild's generation 2: meeting 1 again and meeting 2 (MEMBER registered
    for both), applied up to meeting-events:0:1; then swapped in."""
    rebuilt = ReadModel(model.redis, model.keyspace.prefix)
    rebuilt.keyspace = Keyspace(model.keyspace.prefix, "2")
    rebuilt.store = RedisReadModel(model.redis, rebuilt.keyspace)
    await rebuilt.publish(
        token_issued(ORG, TOKEN),
        future_meeting(1),
        registration_created(1, 1, MEMBER),
        future_meeting(2, hour=1),
        registration_created(2, 2, MEMBER),
    )
    await record(rebuilt, ("meeting-events", 0, 0), ("meeting-events", 0, 1))
    await model.redis.set(model.keyspace.current, "2")


@BOTH_LISTS
async def test_after_a_swap_a_token_is_answered_from_the_generation_swapped_in(
    model: ReadModel, api: Api, path: str
) -> None:
    """The API kept generation 1's position; a request with a token that it
    covers, made right after the swap, is answered from generation 2 and at
    generation 2's position, not from the generation swapped out."""
    await record(model, ("meeting-events", 0, 0))
    before = await api.get(path, asking("meeting-events:0:0"))
    assert before.headers[TOKEN_HEADER] == "meeting-events:0:0"

    await swap_in_generation_2(model)
    response = await api.get(path, asking(before.headers[TOKEN_HEADER]))

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["meetings"]] == [1, 2]
    assert response.headers[TOKEN_HEADER] == "meeting-events:0:1"


@BOTH_LISTS
async def test_a_position_not_reached_in_time_is_a_503_with_the_position_reached(
    model: ReadModel, api: Api, path: str
) -> None:
    await record(model, ("meeting-events", 0, 0))
    response = await api.get(path, asking("meeting-events:0:99"))
    assert response.status_code == 503
    assert response.json() == {"error": "Service Unavailable"}
    assert response.headers["retry-after"] == "1"
    assert response.headers[TOKEN_HEADER] == "meeting-events:0:0"


async def test_prefer_wait_asks_for_less_and_says_it_was_applied(
    model: ReadModel, api: Api
) -> None:
    started = asyncio.get_running_loop().time()
    response = await api.get(PATH, asking("meeting-events:0:99", Prefer="wait=0"))
    assert asyncio.get_running_loop().time() - started < 1.0
    assert response.status_code == 503
    assert response.headers["preference-applied"] == "wait=0"
    # More than the API's own bound (1.5 s here) is not honored: no Preference-Applied.
    started = asyncio.get_running_loop().time()
    response = await api.get(PATH, asking("meeting-events:0:99", Prefer="wait=60"))
    assert 1.4 < asyncio.get_running_loop().time() - started < 10
    assert response.status_code == 503
    assert "preference-applied" not in response.headers


@pytest.mark.parametrize(
    "token",
    [
        "meeting-events:0",
        "other-topic:0:1",
        "meeting-events:-1:1",
        "meeting-events:0:1.5",
        ",".join(["meeting-events:0:1"] * 1001),
        "meeting-events:0:" + "9" * 9000,
    ],
)
async def test_a_malformed_token_is_a_400_after_authentication_and_the_422s(
    model: ReadModel, api: Api, token: str
) -> None:
    response = await api.get(PATH, asking(token))
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid consistency token"}
    unknown = await api.get(PATH, {"Authorization": "Bearer nope", TOKEN_HEADER: token})
    assert unknown.status_code == 401
    bad_series = await api.get(PATH, asking(token), meeting_series_id="x")
    assert bad_series.status_code == 422


async def test_an_answer_before_anything_is_recorded_carries_an_empty_token(
    model: ReadModel, api: Api
) -> None:
    response = await api.get(PATH, bearer())
    assert response.status_code == 200
    assert response.headers[TOKEN_HEADER] == ""  # nothing recorded yet


async def test_an_unknown_token_never_waits(model: ReadModel, api: Api) -> None:
    response = await api.get(
        PATH, {"Authorization": "Bearer nope", TOKEN_HEADER: "meeting-events:0:9"}
    )
    assert response.status_code == 401
    other = await api.get(
        f"/api/v2/organizations/{ORG + 100}/upcoming_meetings", asking("meeting-events:0:9")
    )
    assert other.status_code == 401
