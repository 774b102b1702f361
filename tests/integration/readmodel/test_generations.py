"""Generations against a real Redis: each records its layout, and the projector
writes only generations of its own."""

from __future__ import annotations

import pytest

from readmodel.connections import RedisClient
from readmodel.generations import (
    Generations,
    LayoutMismatch,
    begin_building,
    create_first_generation,
    layout_of,
)
from readmodel.keys import LAYOUT, Control
from readmodel.writer import Retention


async def fresh_group() -> bool:
    return True


def generations(redis: RedisClient, namespace: str) -> Generations:
    return Generations(redis, namespace, Retention(), fresh_group)


async def test_every_new_generation_records_the_layout(redis: RedisClient, namespace: str) -> None:
    control = Control(namespace)

    first = await create_first_generation(redis, namespace)
    building = await begin_building(redis, control)

    assert (first.generation, building) == ("1", "2")
    assert await layout_of(redis, first) == LAYOUT
    assert await layout_of(redis, control.keyspace(building)) == LAYOUT
    assert await redis.get(control.building) == b"2"


async def test_a_generation_made_before_layouts_were_recorded_is_layout_1(
    redis: RedisClient, namespace: str
) -> None:
    await redis.set(Control(namespace).current, "4")

    assert await layout_of(redis, Control(namespace).keyspace("4")) == 1


async def test_the_live_projector_writes_every_generation_of_its_layout_the_rebuilds_first(
    redis: RedisClient, namespace: str
) -> None:
    """The rebuild's generation first: after the swap it holds whatever the old
    one holds, at every moment (docs/consistency.md)."""
    model = generations(redis, namespace)
    assert [store.keyspace.generation for store in await model.writers()] == ["1"]

    await begin_building(redis, Control(namespace))

    assert [store.keyspace.generation for store in await model.writers()] == ["2", "1"]


@pytest.mark.parametrize("layout", [None, LAYOUT + 1])
async def test_the_projector_refuses_a_generation_of_another_layout(
    redis: RedisClient, namespace: str, layout: int | None
) -> None:
    control = Control(namespace)
    await redis.set(control.current, "1")
    if layout is not None:
        await redis.set(control.keyspace("1").layout, layout)

    with pytest.raises(LayoutMismatch) as refused:
        await generations(redis, namespace).writers()

    reason = str(refused.value)
    assert "\n" not in reason
    assert f"generation 1 holds read model layout {layout or 1}" in reason
    assert "run `python -m projector rebuild`" in reason


async def test_during_a_rebuild_it_writes_the_rebuilt_generation_alone(
    redis: RedisClient, namespace: str
) -> None:
    control = Control(namespace)
    await redis.set(control.current, "1")  # layout 1
    model = generations(redis, namespace)
    with pytest.raises(LayoutMismatch):
        await model.writers()

    building = await begin_building(redis, control)

    assert [store.keyspace.generation for store in await model.writers()] == [building]
