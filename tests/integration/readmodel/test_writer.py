"""The read model's contract, run against the in-memory model and real Redis.

``ReadModelContract`` states the rules of docs/events.md once; each backend
subclasses it with a ``model`` fixture (eventsourcing's tests/persistence.py).
Then the laws, as hypothesis properties against Redis with the in-memory model
as the reference: any order, any batching, duplicates, a batch applied twice,
and two workers at once all give the same pages. Last, pruning and the
bounded memory of the Redis model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack.services import Services
from events.times import wall_clock_ms
from readmodel.changes import Change
from readmodel.connections import RedisClient, connect_redis
from readmodel.keys import Keyspace, entry
from readmodel.reader import Denial
from readmodel.writer import DAY_MS, RedisReadModel, Retention
from tests.builders import (
    HOUR_MS,
    MINUTE_MS,
    Event,
    at,
    canceled,
    completed,
    eap_linked,
    eap_unlinked,
    leader,
    registration_canceled,
    registration_created,
    scheduled,
    token_issued,
    token_revoked,
    updated,
)
from tests.integration.helpers import (
    ALLOWED,
    MemoryModel,
    PipelineHook,
    ReadModel,
    RedisModel,
    attendees,
    changes_of,
    fresh_prefix,
    ids,
)


@pytest.fixture(scope="module", params=["node", "cluster"])
def redis_url(request: pytest.FixtureRequest, services: Services) -> str:
    """Every test here that takes ``redis_url`` runs on one node and on a Redis Cluster."""
    if request.param == "cluster":
        url: str = request.getfixturevalue("redis_cluster").url
        return url
    return services.redis_url


T = 1_893_456_000_000  # 2030-01-01T00:00:00.000Z: every meeting starts at T or later
BEFORE = T - DAY_MS  # a moment before every meeting


def meeting(
    meeting_id: int,
    org: int = 1,
    version: int = 1,
    *,
    hour: float = 0,
    minutes: int = 60,
    series: int | None = None,
    event: Callable[..., Event] = scheduled,
    **fields: Any,
) -> Event:
    """A snapshot of a meeting starting ``hour`` hours after T."""
    start = T + int(hour * HOUR_MS)
    return event(
        meeting_id,
        org,
        version,
        start_time=at(start),
        end_time=at(start + minutes * MINUTE_MS),
        meeting_series_id=series,
        **fields,
    )


async def delete_keys(redis: RedisClient, prefix: str) -> None:
    """Clean up after a test: the session Redis may be someone's, never flush it."""
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        await redis.unlink(key)


class ReadModelContract:
    """The rules of docs/events.md; a subclass provides ``model``."""

    async def given(self, model: ReadModel, *events: Event) -> None:
        await model.apply(changes_of(events))

    # -- the list -------------------------------------------------------------

    async def test_lists_meetings_by_start_time(self, model: ReadModel) -> None:
        await self.given(model, meeting(1, hour=2), meeting(2, hour=0), meeting(3, hour=1))

        assert await ids(model, 1, BEFORE) == [2, 3, 1]
        assert await ids(model, 2, BEFORE) == []

    async def test_equal_start_times_sort_by_id_9_before_10(self, model: ReadModel) -> None:
        await self.given(model, meeting(10), meeting(100), meeting(9), meeting(8, hour=1))

        assert await ids(model, 1, BEFORE) == [9, 10, 100, 8]

    async def test_stores_the_rendered_document(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(
                7,
                5,
                series=412,
                minutes=90,
                name="Circle",
                description=None,
                group_leader=leader(4501, "jane", "doe", None),
            ),
            registration_created(1, 7, 100),
        )

        _total, [document] = await model.page(5, BEFORE)
        assert document == {
            "id": 7,
            "name": "Circle",
            "start_time": "2030-01-01T00:00:00.000Z",
            "end_time": "2030-01-01T01:30:00.000Z",
            "duration": "1 hour 30 minutes",
            "duration_in_minutes": 90,
            "topic": "Grief & Loss",
            "description": None,
            "location": "heypeers",
            "meeting_series_id": 412,
            "max_attendees": 12,
            "registered_attendees": 1,
            "group_leader": {
                "id": 4501,
                "name": "jane D.",
                "avatar": "https://ssl.gstatic.com/accounts/ui/avatar_2x.png",
            },
        }

    async def test_a_meeting_in_progress_is_listed_and_leaves_the_instant_it_ends(
        self, model: ReadModel
    ) -> None:
        await self.given(model, meeting(1, hour=0, minutes=60), meeting(2, hour=3))
        end = T + HOUR_MS

        for now in (T - 1, T, T + 30 * MINUTE_MS, end - 1):
            total, meetings = await model.page(1, now)
            assert (total, [m["id"] for m in meetings]) == (2, [1, 2]), now
        total, meetings = await model.page(1, end)
        assert (total, [m["id"] for m in meetings]) == (1, [2])

    async def test_pages_count_only_meetings_not_yet_ended(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(1, hour=0, minutes=600),  # in progress at `now`
            meeting(2, hour=1, minutes=30),  # ended at `now`
            meeting(3, hour=2),
            meeting(4, hour=2.5, minutes=30),  # starts after now
            meeting(5, hour=1.5, minutes=10),  # ended
        )
        now = T + 105 * MINUTE_MS

        pages = [await model.page(1, now, offset, 1) for offset in range(5)]

        assert [total for total, _ in pages] == [3] * 5
        assert [[m["id"] for m in meetings] for _, meetings in pages] == [[1], [3], [4], [], []]
        assert await ids(model, 1, now) == [1, 3, 4]

    async def test_series_filter_and_an_unknown_series(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(1, series=41),
            meeting(2, series=42, hour=1),
            meeting(3, hour=2),
            meeting(4, 2, series=41),
        )

        assert await ids(model, 1, BEFORE, series=41) == [1]
        assert await ids(model, 1, BEFORE, series=42) == [2]
        assert await model.page(1, BEFORE, series=99) == (0, [])

    # -- versions ---------------------------------------------------------------

    @pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
    async def test_the_highest_version_wins_in_any_order(
        self, model: ReadModel, order: tuple[int, ...]
    ) -> None:
        snapshots = [
            meeting(1, version=1, name="one"),
            meeting(1, version=2, name="two", event=updated),
            meeting(1, version=5, name="five", hour=3, event=updated),
        ]
        await self.given(model, *(snapshots[i] for i in order))

        _total, [document] = await model.page(1, BEFORE)
        assert (document["name"], document["start_time"]) == ("five", "2030-01-01T03:00:00.000Z")

    async def test_a_version_already_seen_changes_nothing(self, model: ReadModel) -> None:
        await self.given(model, meeting(1, version=3, name="first"))
        await self.given(model, meeting(1, version=3, name="again", event=updated))
        await self.given(model, meeting(1, version=2, name="older", event=updated))

        _total, [document] = await model.page(1, BEFORE)
        assert document["name"] == "first"

    # -- end of life ------------------------------------------------------------

    @pytest.mark.parametrize("end", [canceled, completed], ids=["canceled", "completed"])
    @pytest.mark.parametrize(
        "history",
        [
            ("scheduled", "end"),
            ("end", "scheduled"),
            ("scheduled", "end", "updated"),
            ("end", "updated", "scheduled"),
            ("scheduled", "end", "registered"),
        ],
    )
    async def test_canceled_and_completed_are_terminal(
        self, model: ReadModel, end: Callable[..., Event], history: tuple[str, ...]
    ) -> None:
        events = {
            "scheduled": meeting(1, version=1),
            "end": end(1, 1, version=2),
            "updated": meeting(1, version=3, event=updated, name="later"),
            "registered": registration_created(1, 1, 100),
        }
        await self.given(model, meeting(2, hour=1))
        for step in history:
            await self.given(model, events[step])

        assert await ids(model, 1, BEFORE) == [2]

    # -- registrations ----------------------------------------------------------

    async def test_registrations_before_the_first_snapshot_count(self, model: ReadModel) -> None:
        await self.given(model, registration_created(1, 1, 100), registration_created(2, 1, 101))
        assert await ids(model, 1, BEFORE) == []

        await self.given(model, meeting(1))

        assert await attendees(model, 1, BEFORE) == {1: 2}

    async def test_counts_distinct_users_with_an_active_registration(
        self, model: ReadModel
    ) -> None:
        await self.given(
            model,
            meeting(1),
            registration_created(1, 1, 100),
            registration_created(2, 1, 100),
            registration_created(3, 1, 101),
        )
        assert await attendees(model, 1, BEFORE) == {1: 2}

        await self.given(model, registration_canceled(1, 1, 100))
        assert await attendees(model, 1, BEFORE) == {1: 2}  # user 100 still has registration 2

        await self.given(model, registration_canceled(2, 1, 100))
        assert await attendees(model, 1, BEFORE) == {1: 1}

    async def test_leaders_of_the_latest_snapshot_are_not_attendees(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(1, group_leader=leader(4501), co_leader_ids=[4600]),
            registration_created(1, 1, 4501),
            registration_created(2, 1, 4600),
            registration_created(3, 1, 100),
        )
        assert await attendees(model, 1, BEFORE) == {1: 1}

        await self.given(
            model, meeting(1, version=2, event=updated, group_leader=leader(100), co_leader_ids=[])
        )
        assert await attendees(model, 1, BEFORE) == {1: 2}

    @pytest.mark.parametrize(
        "order",
        [("created", "canceled"), ("canceled", "created"), ("created", "canceled", "created")],
    )
    async def test_a_canceled_registration_stays_canceled(
        self, model: ReadModel, order: tuple[str, ...]
    ) -> None:
        events = {
            "created": registration_created(1, 1, 100),
            "canceled": registration_canceled(1, 1, 100),
        }
        await self.given(model, meeting(1), registration_created(2, 1, 101))
        for step in order:
            await self.given(model, events[step])

        assert await attendees(model, 1, BEFORE) == {1: 1}

    # -- EAP links --------------------------------------------------------------

    async def test_an_eap_organization_lists_meetings_of_its_hpc_organization(
        self, model: ReadModel
    ) -> None:
        await self.given(model, meeting(1, 1, hour=1), meeting(2, 2, hour=2))
        await self.given(model, eap_linked(1, 2, version=1))
        await self.given(model, meeting(3, 2, hour=0))  # scheduled after the link

        assert await ids(model, 1, BEFORE) == [3, 1, 2]
        assert await ids(model, 2, BEFORE) == [3, 2]  # the link is one-way

    async def test_copies_follow_the_hpc_meeting(self, model: ReadModel) -> None:
        await self.given(model, eap_linked(1, 2, version=1), meeting(2, 2, name="old"))
        await self.given(
            model,
            meeting(2, 2, version=2, name="new", event=updated),
            registration_created(1, 2, 100),
        )
        _total, [document] = await model.page(1, BEFORE)
        assert (document["name"], document["registered_attendees"]) == ("new", 1)

        await self.given(model, canceled(2, 2, version=3))
        assert await ids(model, 1, BEFORE) == []

    async def test_unlink_removes_the_hpc_meetings_and_an_older_link_changes_nothing(
        self, model: ReadModel
    ) -> None:
        await self.given(model, meeting(1, 1), meeting(2, 2, hour=1), eap_linked(1, 2, version=1))
        assert await ids(model, 1, BEFORE) == [1, 2]

        await self.given(model, eap_unlinked(1, 2, version=3))
        await self.given(model, eap_linked(1, 2, version=2))  # late
        await self.given(model, meeting(3, 2, hour=2))
        assert await ids(model, 1, BEFORE) == [1]

        await self.given(model, eap_linked(1, 2, version=4))
        assert await ids(model, 1, BEFORE) == [1, 2, 3]

    async def test_an_unlink_before_its_link_wins(self, model: ReadModel) -> None:
        await self.given(model, eap_unlinked(1, 2, version=2), meeting(2, 2))
        await self.given(model, eap_linked(1, 2, version=1))

        assert await ids(model, 1, BEFORE) == []

    async def test_links_are_not_transitive_and_may_be_many(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(1, 1),
            meeting(2, 2, hour=1),
            meeting(3, 3, hour=2),
            meeting(4, 4, hour=3),
            eap_linked(1, 2),
            eap_linked(2, 3),
            eap_linked(1, 4),
            eap_linked(5, 4),
        )

        assert await ids(model, 1, BEFORE) == [1, 2, 4]
        assert await ids(model, 2, BEFORE) == [2, 3]
        assert await ids(model, 5, BEFORE) == [4]

    async def test_the_series_filter_covers_the_eap_list(self, model: ReadModel) -> None:
        await self.given(
            model,
            meeting(1, 1, series=41),
            meeting(2, 2, series=41, hour=1),
            meeting(3, 2, series=42, hour=2),
            eap_linked(1, 2),
        )

        assert await ids(model, 1, BEFORE, series=41) == [1, 2]
        assert await ids(model, 1, BEFORE, series=42) == [3]

    # -- moving a meeting -------------------------------------------------------

    async def test_a_meeting_moves_between_organizations_and_series(self, model: ReadModel) -> None:
        await self.given(model, meeting(1, 1, version=1, series=41))
        await self.given(model, meeting(1, 2, version=2, series=42, event=updated))

        assert await ids(model, 1, BEFORE) == []
        assert await ids(model, 1, BEFORE, series=41) == []
        assert await ids(model, 2, BEFORE) == [1]
        assert await ids(model, 2, BEFORE, series=42) == [1]
        assert await ids(model, 2, BEFORE, series=41) == []

        await self.given(model, meeting(1, 1, version=4, series=None, event=updated))
        await self.given(model, meeting(1, 3, version=3, series=41, event=updated))  # late
        assert await ids(model, 1, BEFORE) == [1]
        assert await ids(model, 1, BEFORE, series=41) == []
        assert [await ids(model, org, BEFORE) for org in (2, 3)] == [[], []]

    async def test_a_meeting_leaving_the_hpc_organization_leaves_its_eap_organizations(
        self, model: ReadModel
    ) -> None:
        await self.given(model, eap_linked(1, 2), eap_linked(3, 2), meeting(5, 2))
        await self.given(model, meeting(5, 4, version=2, event=updated))

        assert [await ids(model, org, BEFORE) for org in (1, 2, 3, 4)] == [[], [], [], [5]]

        await self.given(model, meeting(5, 1, version=3, event=updated))  # into the EAP org
        assert [await ids(model, org, BEFORE) for org in (1, 2, 3, 4)] == [[5], [], [], []]

    # -- tokens -----------------------------------------------------------------

    async def test_a_token_reads_the_organizations_it_was_issued_to(self, model: ReadModel) -> None:
        await self.given(
            model, token_issued(1, "one"), token_issued(2, "shared"), token_issued(3, "shared")
        )

        assert await model.access(1, "one") == ALLOWED
        assert await model.access(2, "one") == Denial.OTHER_ORGANIZATION.value
        assert await model.access(1, "nobody") == Denial.UNKNOWN_TOKEN.value
        assert [await model.access(org, "shared") for org in (2, 3)] == [ALLOWED, ALLOWED]

    @pytest.mark.parametrize(
        "order", [("issued", "revoked"), ("revoked", "issued"), ("issued", "revoked", "issued")]
    )
    async def test_a_revoked_token_stays_revoked(
        self, model: ReadModel, order: tuple[str, ...]
    ) -> None:
        events = {"issued": token_issued(1, "gone"), "revoked": token_revoked(1, "gone")}
        await self.given(model, token_issued(1, "other"))
        for step in order:
            await self.given(model, events[step])

        assert await model.access(1, "gone") == Denial.UNKNOWN_TOKEN.value
        assert await model.access(1, "other") == ALLOWED


class TestInMemoryReadModel(ReadModelContract):
    @pytest.fixture
    def model(self) -> MemoryModel:
        return MemoryModel()


class TestRedisReadModel(ReadModelContract):
    @pytest.fixture
    async def model(self, redis_url: str, namespace: str) -> AsyncIterator[RedisModel]:
        redis = connect_redis(redis_url)
        try:
            yield await RedisModel(redis, namespace).serve()
        finally:
            await delete_keys(redis, namespace)
            await redis.aclose()


# -- the laws -----------------------------------------------------------------

ORGS = (1, 2, 3)
MEETINGS = (9, 10, 11, 12)
SERIES = (41, 42)
USERS = (100, 101, 102, 103)
TOKENS = ("alpha", "beta")
NOWS = (BEFORE, T + 75 * MINUTE_MS)  # before every meeting; some ended, some in progress
PAGE = 2


@st.composite
def meeting_histories(draw: st.DrawFn, meeting_id: int) -> list[Event]:
    versions = draw(st.lists(st.integers(1, 8), unique=True, max_size=4))
    events = []
    for version in versions:
        kind = draw(st.sampled_from(["scheduled", "updated", "updated", "canceled", "completed"]))
        if kind == "canceled":
            events.append(canceled(meeting_id, draw(st.sampled_from(ORGS)), version))
        elif kind == "completed":
            events.append(completed(meeting_id, draw(st.sampled_from(ORGS)), version))
        else:
            events.append(
                meeting(
                    meeting_id,
                    draw(st.sampled_from(ORGS)),
                    version,
                    hour=draw(st.sampled_from([0, 0.5, 1, 2])),
                    minutes=draw(st.sampled_from([30, 60, 120])),
                    series=draw(st.sampled_from([None, *SERIES])),
                    event=scheduled if kind == "scheduled" else updated,
                    name=f"meeting {meeting_id} v{version}",
                    group_leader=leader(draw(st.sampled_from(USERS))),
                    co_leader_ids=draw(st.lists(st.sampled_from(USERS), unique=True, max_size=2)),
                )
            )
    return events


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """Events of a few meetings over three organizations, each rule of docs/events.md kept."""
    events: list[Event] = []
    for meeting_id in MEETINGS:
        events += draw(meeting_histories(meeting_id))
    registrations = draw(
        st.lists(
            st.tuples(st.sampled_from(MEETINGS), st.sampled_from(USERS), st.booleans()), max_size=8
        )
    )
    for registration_id, (meeting_id, user_id, cancel) in enumerate(registrations, 1):
        events.append(registration_created(registration_id, meeting_id, user_id))
        if cancel:
            events.append(registration_canceled(registration_id, meeting_id, user_id))
    for eap in ORGS:
        for hpc in ORGS:
            if eap != hpc:
                for version in draw(st.lists(st.integers(1, 5), unique=True, max_size=2)):
                    link = eap_linked if draw(st.booleans()) else eap_unlinked
                    events.append(link(eap, hpc, version))
    for token in TOKENS:
        issued_to = draw(st.lists(st.sampled_from(ORGS), unique=True, max_size=2))
        events += [token_issued(org, token) for org in issued_to]
        if draw(st.booleans()):
            events.append(token_revoked(draw(st.sampled_from(ORGS)), token))
    return events


@st.composite
def deliveries(draw: st.DrawFn, changes: list[Change]) -> list[list[Change]]:
    """The changes in another order, some duplicated, cut into batches."""
    delivered = list(draw(st.permutations(changes)))
    for _ in range(draw(st.integers(0, 4)) if changes else 0):
        duplicate = draw(st.sampled_from(changes))
        delivered.insert(draw(st.integers(0, len(delivered))), duplicate)
    batches = []
    while delivered:
        size = draw(st.integers(1, 8))
        batches.append(delivered[:size])
        delivered = delivered[size:]
    return batches


async def observe(model: ReadModel) -> dict[tuple[Any, ...], Any]:
    """Everything a client can see: every list, whole and page by page, and every token."""
    seen: dict[tuple[Any, ...], Any] = {}
    for org in ORGS:
        for series in (None, *SERIES):
            for now in NOWS:
                total, _ = seen[org, series, now] = await model.page(org, now, series=series)
                for offset in range(0, total + PAGE, PAGE):
                    seen[org, series, now, offset] = await model.page(
                        org, now, offset, PAGE, series
                    )
            for user in USERS:  # the Member's Upcoming Meetings lists
                for now in NOWS:
                    seen["member", org, user, series, now] = await model.page(
                        org, now, series=series, member=user
                    )
        for token in TOKENS:
            seen["token", token, org] = await model.access(org, token)
    return seen


async def reference(changes: list[Change]) -> dict[tuple[Any, ...], Any]:
    memory = MemoryModel()
    await memory.apply(changes)
    return await observe(memory)


LAWS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@LAWS
@given(data=st.data(), events=histories())
def test_any_order_batching_and_duplicates_give_the_reference_pages(
    redis_url: str, data: st.DataObject, events: list[Event]
) -> None:
    changes = changes_of(events)
    batches = data.draw(deliveries(changes), label="batches")

    async def run() -> None:
        prefix = fresh_prefix()
        redis = connect_redis(redis_url)
        try:
            model = await RedisModel(redis, prefix).serve()
            for batch in batches:
                await model.apply(batch)
            expected = await reference(changes)
            assert await observe(model) == expected

            await model.apply(changes)
            await model.apply(changes)
            assert await observe(model) == expected
        finally:
            await delete_keys(redis, prefix)
            await redis.aclose()

    asyncio.run(run())


@LAWS
@given(data=st.data(), events=histories())
def test_workers_at_once_give_the_reference_pages(
    redis_url: str, data: st.DataObject, events: list[Event]
) -> None:
    """Up to four writers at once: two projector workers, or a rebuild's
    batches in flight (``rebuild.WRITES_IN_FLIGHT``)."""
    changes = changes_of(events)
    batches = data.draw(deliveries(changes), label="batches")
    names = "abcd"[: data.draw(st.integers(2, 4), label="writers")]
    workers = data.draw(
        st.lists(st.sampled_from(names), min_size=len(batches), max_size=len(batches)),
        label="workers",
    )

    async def run() -> None:
        prefix = fresh_prefix()
        clients = [connect_redis(redis_url) for _ in range(len(names) + 1)]
        keyspace = Keyspace(prefix, "1")
        stores = {
            name: RedisReadModel(client, keyspace)
            for name, client in zip(names, clients[:-1], strict=True)
        }

        async def work(name: str) -> None:
            for batch, worker in zip(batches, workers, strict=True):
                if worker == name:
                    await stores[name].apply(batch)

        try:
            model = await RedisModel(clients[-1], prefix).serve()
            await asyncio.gather(*(work(name) for name in names))
            assert await observe(model) == await reference(changes)
        finally:
            await delete_keys(clients[-1], prefix)
            for client in clients:
                await client.aclose()

    asyncio.run(run())


# -- workers stalled or crashed between the steps of a batch -------------------
#
# RedisReadModel.apply runs three pipelines (see readmodel/writer.py); these
# tests stop a worker between two of them, deterministically.


@contextlib.asynccontextmanager
async def b_stalled_after_step_1(
    redis_url: str,
    namespace: str,
    b_events: list[Event],
    a_events: list[Event],
    *,
    step: int = 1,
    before: list[Event] | None = None,
    a_batches: Sequence[list[Event]] = (),
) -> AsyncIterator[RedisModel]:
    """Worker b applies ``b_events`` and stalls after ``step`` (1 or 2); worker a
    applies ``a_events`` meanwhile, then each of ``a_batches``; then b goes on.
    ``before`` is applied first. Yields the read model served after."""
    keyspace = Keyspace(namespace, "1")
    stalled, resume = asyncio.Event(), asyncio.Event()

    async def stall() -> None:
        stalled.set()
        await resume.wait()

    redis_a, redis_b = connect_redis(redis_url), connect_redis(redis_url)
    worker_a = RedisReadModel(redis_a, keyspace)
    worker_b = RedisReadModel(cast(RedisClient, PipelineHook(redis_b, step + 1, stall)), keyspace)
    try:
        await worker_a.load_scripts()  # else b's first pipeline fails with NOSCRIPT and reruns
        if before:
            await worker_a.apply(changes_of(before))
        b = asyncio.create_task(worker_b.apply(changes_of(b_events)))
        await asyncio.wait_for(stalled.wait(), 5)
        await worker_a.apply(changes_of(a_events))
        for batch in a_batches:
            await worker_a.apply(changes_of(batch))
        resume.set()
        await b
        yield await RedisModel(redis_a, namespace).serve()
    finally:
        await delete_keys(redis_a, namespace)
        await redis_a.aclose()
        await redis_b.aclose()


async def test_a_stale_write_is_not_copied_into_an_eap_organization(
    redis_url: str, namespace: str
) -> None:
    """Worker b stalls after step 1 of [schedule 10 in org 2, link 1 -> 2]; a cancels 10."""
    async with b_stalled_after_step_1(
        redis_url, namespace, [meeting(10, 2), eap_linked(1, 2)], [canceled(10, 2, version=2)]
    ) as model:
        assert await ids(model, 2, BEFORE) == []
        assert await ids(model, 1, BEFORE) == []  # canceled: never listed again, anywhere


async def test_a_registration_applied_while_its_snapshot_is_half_written_is_counted(
    redis_url: str, namespace: str
) -> None:
    """Worker b stalls after step 1 of [schedule 10 in org 2]; a registers a user.

    b's step 2 then writes the document it rendered before the registration:
    the write of a (a later revision) must still decide the count.
    """
    async with b_stalled_after_step_1(
        redis_url, namespace, [meeting(10, 2)], [registration_created(1, 10, 100)]
    ) as model:
        assert await attendees(model, 2, BEFORE) == {10: 1}


async def test_a_copy_held_back_across_an_unlink_and_a_relink_is_not_written(
    redis_url: str, namespace: str
) -> None:
    """b stalls before step 3 of a registration: it has read that EAP org 1 is
    linked to org 2 and holds a copy to write there. Meanwhile a unlinks org 1,
    cancels the meeting (org 1, unlinked, keeps no tombstone) and links org 1
    again. b's copy is of a link that no longer holds: it must not bring back
    the canceled meeting."""
    before = [eap_linked(1, 2, version=1), meeting(10, 2)]
    b_events = [registration_created(1, 10, 100)]
    a_batches = [[eap_unlinked(1, 2, version=2)], [canceled(10, 2, version=2)]]
    relinked = [eap_linked(1, 2, version=3)]
    async with b_stalled_after_step_1(
        redis_url, namespace, b_events, [], step=2, before=before, a_batches=[*a_batches, relinked]
    ) as model:
        assert await ids(model, 1, BEFORE) == []
        history = before + b_events + [e for batch in a_batches for e in batch] + relinked
        assert await observe(model) == await reference(changes_of(history))


@pytest.mark.parametrize(
    "links",
    [
        [eap_linked(1, 2), eap_linked(1, 3)],
        [eap_linked(3, 2)],
    ],
    ids=["EAP of the old and the new owner", "the new owner is an EAP of the old"],
)
async def test_a_registration_applied_while_its_meeting_moves_keeps_it_listed(
    redis_url: str, namespace: str, links: list[Event]
) -> None:
    """b stalls after step 1 of moving meeting 10 from org 2 to org 3; a
    registers a user for it meanwhile, a later revision without the document.

    a takes 10 out of org 2 and out of the EAP organizations' copies of org 2's
    list, but cannot list it in org 3 before b's document comes. Those removals
    must not outrank b's writes, which carry the move: 10 stays listed in org 3
    and in its copies (found by the workers-at-once law on a Redis Cluster)."""
    before = [*links, meeting(10, 2, version=1)]
    moved = [meeting(10, 3, version=2, event=updated)]
    registered = [registration_created(1, 10, 100)]
    async with b_stalled_after_step_1(
        redis_url, namespace, moved, registered, before=before
    ) as model:
        assert await attendees(model, 3, BEFORE) == {10: 1}
        assert await observe(model) == await reference(changes_of(before + moved + registered))


@pytest.mark.parametrize("together", [False, True], ids=["two batches", "one batch"])
async def test_a_snapshot_of_a_version_already_seen_changes_nothing_even_its_document(
    redis_url: str, namespace: str, together: bool
) -> None:
    """Two snapshots of one version with different content (an upstream
    mistake): the first applied stands, document included (docs/events.md). The
    state keeps no document, so the write must know which snapshot it applied."""
    first = meeting(10, 2, version=3, name="first", series=41)
    second = meeting(10, 3, version=3, name="second", hour=5, event=updated)
    batches = [[first, second]] if together else [[first], [second]]
    redis = connect_redis(redis_url)
    model = RedisModel(redis, namespace)
    try:
        await model.serve()
        for batch in batches:
            await model.apply(changes_of(batch))
        assert await observe(model) == await reference(changes_of([first, second]))
        _total, meetings = await model.page(2, BEFORE)
        assert [m["name"] for m in meetings] == ["first"]
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


class ScriptCalls:
    """A real Redis client that records the script calls queued on each pipeline."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.pipelines: list[list[tuple[Any, ...]]] = []

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = self.redis.pipeline(transaction=transaction, shard_hint=shard_hint)
        calls: list[tuple[Any, ...]] = []
        self.pipelines.append(calls)
        evalsha = pipe.evalsha

        def recorded(*args: Any) -> Any:
            calls.append(args)
            return evalsha(*args)

        pipe.evalsha = recorded
        return pipe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)


async def test_a_meetings_changes_in_one_batch_are_one_transition_call(
    redis_url: str, namespace: str
) -> None:
    """Step 1 calls meeting.lua once per meeting, with its changes in batch order."""
    redis = connect_redis(redis_url)
    spy = ScriptCalls(redis)
    model = RedisModel(
        redis, namespace, RedisReadModel(cast(RedisClient, spy), Keyspace(namespace, "1"))
    )
    events = [
        registration_created(1, 10, 100),  # before its meeting: pending
        meeting(10, 2),
        eap_linked(1, 2),
        registration_created(2, 10, 101),
        meeting(11, 2),
        registration_canceled(1, 10, 100),
        registration_created(3, 11, 100),
        meeting(10, 2, version=2, event=updated, name="v2"),
        registration_created(1, 10, 100),  # canceled before: changes nothing
    ]
    try:
        await model.serve()
        await model.apply(changes_of(events))
        step_1 = spy.pipelines[0]
        assert len(step_1) == 3  # meeting 10, meeting 11, the link's EAP side
        assert await observe(model) == await reference(changes_of(events))
        assert await attendees(model, 1, BEFORE) == {10: 1, 11: 1}
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


# The count register (list_entries.lua): b holds a snapshot's batch between its steps
# while a applies later changes of the same meeting. Each case: (before, b's
# events, a's events, the step b stalls after).
COUNT_REGISTER_CASES = {
    "registration": ([], [meeting(10, 2)], [registration_created(1, 10, 100)], 1),
    "registration, EAP copy": (
        [eap_linked(1, 2)],
        [meeting(10, 2)],
        [registration_created(1, 10, 100)],
        1,
    ),
    "registration, copy stalled": (
        [eap_linked(1, 2)],
        [meeting(10, 2)],
        [registration_created(1, 10, 100)],
        2,
    ),
    "registration, then linked": (
        [],
        [meeting(10, 2)],
        [registration_created(1, 10, 100), eap_linked(1, 2)],
        1,
    ),
    "registration, then unlinked": (
        [eap_linked(1, 2)],
        [meeting(10, 2)],
        [registration_created(1, 10, 100), eap_unlinked(1, 2)],
        1,
    ),
    "registration canceled": (
        [],
        [meeting(10, 2), registration_created(1, 10, 100)],
        [registration_canceled(1, 10, 100), registration_created(2, 10, 101)],
        1,
    ),
    "registration, then canceled": (
        [eap_linked(1, 2)],
        [meeting(10, 2)],
        [registration_created(1, 10, 100), canceled(10, 2, version=2)],
        1,
    ),
    "registration, then moved": (
        [],
        [meeting(10, 2)],
        [registration_created(1, 10, 100), meeting(10, 3, version=2, event=updated)],
        1,
    ),
    "moved, then registration": (
        [],
        [meeting(10, 2)],
        [meeting(10, 3, version=2, event=updated), registration_created(1, 10, 100)],
        1,
    ),
    "registration to an update": (
        [eap_linked(1, 2), meeting(10, 2, name="v1")],
        [meeting(10, 2, version=2, name="v2", event=updated)],
        [registration_created(1, 10, 100)],
        1,
    ),
    "update moved, registration": (
        [meeting(10, 3, name="v1")],
        [meeting(10, 2, version=2, name="v2", event=updated)],
        [registration_created(1, 10, 100), registration_created(2, 10, 101)],
        1,
    ),
    "registration, then ended": (
        [],
        [meeting(10, 2)],
        [registration_created(1, 10, 100), completed(10, 2, version=2)],
        1,
    ),
}


@pytest.mark.parametrize(
    ("before", "b_events", "a_events", "step"),
    COUNT_REGISTER_CASES.values(),
    ids=COUNT_REGISTER_CASES.keys(),
)
async def test_a_snapshot_written_after_later_changes_shows_them(
    redis_url: str,
    namespace: str,
    before: list[Event],
    b_events: list[Event],
    a_events: list[Event],
    step: int,
) -> None:
    """Whatever a applied while b held the snapshot's write, every list, copy and
    member list ends as the reference's: counted, and never listed again once
    removed."""
    async with b_stalled_after_step_1(
        redis_url, namespace, b_events, a_events, step=step, before=before
    ) as model:
        assert await observe(model) == await reference(changes_of(before + b_events + a_events))


async def test_a_count_without_its_document_is_kept_then_pruned(
    redis_url: str, namespace: str
) -> None:
    """b crashes after step 1 of a snapshot; a registration's count waits in the
    organization's meta for the document, pruned like a tombstone while the
    document does not come."""

    async def crash() -> None:
        raise RedisConnectionError("the worker lost Redis")

    redis = connect_redis(redis_url)
    model = RedisModel(redis, namespace)
    keys = model.keyspace.org(2)
    crashing = RedisReadModel(cast(RedisClient, PipelineHook(redis, 2, crash)), model.keyspace)
    snapshot = changes_of([meeting(10, 2)])
    try:
        await model.serve()
        await model.store.load_scripts()
        with pytest.raises(RedisConnectionError):
            await crashing.apply(snapshot)
        await model.apply(changes_of([registration_created(1, 10, 100)]))
        assert await ids(model, 2, BEFORE) == []  # a count never brings a document
        assert await redis.hexists(keys.meta, entry(10))
        assert await redis.zscore(keys.gone, entry(10)) is not None

        forgotten = wall_clock_ms() + Retention().tombstone_ms + 1
        await RedisReadModel(redis, model.keyspace, clock=lambda: forgotten).prune()
        assert not await redis.hexists(keys.meta, entry(10))  # bounded

        await model.apply(snapshot)  # redelivered at last: it counts from the state
        assert await attendees(model, 2, BEFORE) == {10: 1}
        assert await redis.zscore(keys.gone, entry(10)) is None
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


CRASH_HISTORY = [
    eap_linked(1, 2),
    eap_linked(3, 2, version=1),
    eap_unlinked(3, 2, version=2),
    meeting(9, 2, series=41),
    meeting(10, 2, hour=1),
    meeting(11, 1, version=1, hour=2),
    meeting(11, 3, version=2, hour=2, event=updated),
    meeting(12, 2, hour=3),
    canceled(12, 2, version=2),
    registration_created(1, 9, 100),
    registration_created(2, 10, 101),
    registration_canceled(2, 10, 101),
    token_issued(1, "alpha"),
    token_revoked(1, "beta"),
]


@pytest.mark.parametrize("crash_before_step", [2, 3])
async def test_a_batch_cut_short_by_a_crash_and_applied_again_gives_the_reference(
    redis_url: str, namespace: str, crash_before_step: int
) -> None:
    async def crash() -> None:
        raise RedisConnectionError("the worker lost Redis")

    changes = changes_of(CRASH_HISTORY)
    redis = connect_redis(redis_url)
    model = RedisModel(redis, namespace)
    crashing = RedisReadModel(
        cast(RedisClient, PipelineHook(redis, crash_before_step, crash)), model.keyspace
    )
    try:
        await model.store.load_scripts()  # else the first pipeline fails with NOSCRIPT and reruns
        with pytest.raises(RedisConnectionError):
            await crashing.apply(changes)
        await model.serve()
        await model.apply(changes)  # redelivered

        assert await observe(model) == await reference(changes)
        assert await ids(model, 1, BEFORE) == [9, 10]  # not vacuous: copies were made
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


@pytest.mark.parametrize("earlier", [[], [meeting(9, 2, name="v1")]], ids=["first", "update"])
async def test_a_snapshot_cut_short_before_the_lists_is_written_by_its_redelivery(
    redis_url: str, namespace: str, earlier: list[Event]
) -> None:
    """The lists hold the only copy of a document: a registration applied between
    a crash and the redelivery must neither lose it nor count into an older one."""

    async def crash() -> None:
        raise RedisConnectionError("the worker lost Redis")

    cut_short = changes_of(
        [meeting(9, 2, version=2, name="v2", event=updated), registration_created(1, 9, 100)]
    )
    between = changes_of([registration_created(2, 9, 101)])
    redis = connect_redis(redis_url)
    model = RedisModel(redis, namespace)
    crashing = RedisReadModel(cast(RedisClient, PipelineHook(redis, 2, crash)), model.keyspace)
    try:
        await model.serve()
        await model.apply(changes_of([eap_linked(1, 2), *earlier]))
        with pytest.raises(RedisConnectionError):
            await crashing.apply(cut_short)  # step 1 applied, the lists untouched
        await model.apply(between)  # another worker, before the redelivery
        await model.apply(cut_short)  # redelivered

        everything = changes_of([eap_linked(1, 2), *earlier]) + cut_short + between
        assert await observe(model) == await reference(everything)
        _total, [document] = await model.page(1, BEFORE)
        assert (document["name"], document["registered_attendees"]) == ("v2", 2)
    finally:
        await delete_keys(redis, namespace)
        await redis.aclose()


# -- pruning and bounded memory -------------------------------------------------


class TestRedisMemoryIsBounded:
    @pytest.fixture
    async def redis(self, redis_url: str, namespace: str) -> AsyncIterator[RedisClient]:
        redis = connect_redis(redis_url)
        try:
            yield redis
        finally:
            await delete_keys(redis, namespace)
            await redis.aclose()

    async def test_prune_removes_ended_meetings_from_lists_copies_and_documents(
        self, redis: RedisClient, namespace: str
    ) -> None:
        model = await RedisModel(redis, namespace).serve()
        await model.apply(
            changes_of(
                [
                    meeting(1, 2, hour=0, series=41),
                    meeting(2, 2, hour=2, series=41),
                    meeting(3, 1, hour=0, minutes=30),
                    eap_linked(1, 2),
                ]
            )
        )
        now = T + 90 * MINUTE_MS  # meetings 1 and 3 have ended
        later = RedisReadModel(redis, model.keyspace, clock=lambda: now)

        freed = await later.prune()

        assert freed == 3  # meeting 1 in its organization and its copy, meeting 3
        for org in (1, 2):
            keys = model.keyspace.org(org)
            for gone in (entry(1), entry(3)):
                assert await redis.hexists(keys.doc, gone) == 0
                assert await redis.zscore(keys.start, gone) is None
                assert await redis.zscore(keys.end, gone) is None
                assert await redis.zscore(keys.series(41), gone) is None
            assert await redis.zcard(keys.start) == 1
        assert await redis.smembers(model.keyspace.org(1).copied_from(2)) == {entry(2).encode()}
        # Read as of a moment before they ended: pruned meetings are gone for good.
        assert await ids(model, 1, BEFORE) == [2]
        assert await ids(model, 2, BEFORE, series=41) == [2]
        assert await ids(model, 1, now) == [2]

    async def test_prune_forgets_tombstones_after_their_retention(
        self, redis: RedisClient, namespace: str
    ) -> None:
        keyspace = Keyspace(namespace, "1")
        model = RedisModel(redis, namespace, RedisReadModel(redis, keyspace, clock=lambda: T))
        await model.apply(changes_of([meeting(1, 1), meeting(2, 1, version=1, hour=1)]))
        await model.apply(changes_of([canceled(2, 1, version=2)]))
        keys = keyspace.org(1)
        assert await redis.zcard(keys.gone) == 1  # meeting 2's tombstone

        after_end = T + 2 * HOUR_MS
        await RedisReadModel(redis, keyspace, clock=lambda: after_end).prune()
        assert await redis.zcard(keys.gone) == 2  # and meeting 1's, pruned
        assert await redis.hlen(keys.meta) == 2

        forgotten = after_end + Retention().tombstone_ms
        await RedisReadModel(redis, keyspace, clock=lambda: forgotten).prune()

        assert await redis.zcard(keys.gone) == 0
        assert await redis.hlen(keys.meta) == 0
        assert await redis.hlen(keys.doc) == 0

    async def test_a_canceled_meeting_keeps_no_registrations_and_its_state_expires(
        self, redis: RedisClient, namespace: str
    ) -> None:
        now = wall_clock_ms()
        model = await RedisModel(
            redis, namespace, RedisReadModel(redis, Keyspace(namespace, "1"), clock=lambda: now)
        ).serve()
        end = T + HOUR_MS
        await model.apply(
            changes_of(
                [
                    meeting(1, 1),
                    registration_created(1, 1, 100),
                    registration_created(2, 1, 101),
                ]
            )
        )
        state = model.keyspace.meeting(1).state
        assert await redis.pexpiretime(state) == end + Retention().ended_ms
        assert await redis.hlen(state) > 8  # the registrations are in it

        await model.apply(changes_of([canceled(1, 1, version=2)]))

        assert sorted(await redis.hkeys(state)) == [b"en", b"org", b"rev", b"term", b"v", b"was"]
        assert await redis.pexpiretime(state) == end + Retention().tombstone_ms
        assert await ids(model, 1, BEFORE) == []

    async def test_registrations_waiting_for_a_snapshot_expire(
        self, redis: RedisClient, namespace: str
    ) -> None:
        now = wall_clock_ms()
        store = RedisReadModel(redis, Keyspace(namespace, "1"), clock=lambda: now)
        await store.apply(changes_of([registration_created(1, 1, 100)]))

        state = store.keyspace.meeting(1).state
        rev = str(now * 1000).encode()
        assert await redis.hgetall(state) == {b"1": b"100", b"rev": rev}
        assert await redis.pexpiretime(state) == now + Retention().pending_ms


async def test_a_redis_that_forgot_the_scripts_gets_them_again(redis_server: Any) -> None:
    """After a restart or SCRIPT FLUSH, applying and pruning load the scripts again."""
    redis = connect_redis(redis_server.url)
    try:
        model = await RedisModel(redis, "forgetful").serve()
        await model.apply(changes_of([meeting(1, 1, hour=0), meeting(2, 1, hour=2)]))
        await redis.script_flush()
        await model.apply(changes_of([meeting(3, 1, hour=3)]))

        await redis.script_flush()
        later = RedisReadModel(redis, model.keyspace, clock=lambda: T + 90 * MINUTE_MS)
        assert await later.prune() == 1  # meeting 1 had ended
        assert await ids(model, 1, BEFORE) == [2, 3]
    finally:
        await redis.aclose()
