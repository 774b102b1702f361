"""A paused rebuild resumes only into a generation of this code's layout."""

from __future__ import annotations

from aiokafka import TopicPartition

from projector.commands.rebuild import Plan, resume
from readmodel.connections import RedisClient
from readmodel.generations import RebuildProgress, begin_building, save_progress
from readmodel.keys import Control

TP = TopicPartition("events", 0)


async def pause_a_rebuild(redis: RedisClient, control: Control, generation: str) -> Plan:
    await redis.set(control.building, generation)
    plan = Plan(generation, 1_000, {TP: 50}, {TP: 20})
    await save_progress(redis, control, plan.progress())
    return plan


async def test_a_rebuild_of_this_layout_resumes_where_it_was(
    redis: RedisClient, namespace: str
) -> None:
    control = Control(namespace)
    generation = await begin_building(redis, control)
    paused = await pause_a_rebuild(redis, control, generation)

    assert await resume(redis, control) == paused


async def test_a_rebuild_of_another_layout_is_not_resumed(
    redis: RedisClient, namespace: str
) -> None:
    control = Control(namespace)
    await pause_a_rebuild(redis, control, "5")  # begun by a version that marked no layout

    assert await resume(redis, control) is None


async def test_the_plan_is_saved_as_the_progress_status_reads(
    redis: RedisClient, namespace: str
) -> None:
    control = Control(namespace)
    await pause_a_rebuild(redis, control, "5")

    progress = RebuildProgress.parse(await redis.hgetall(control.rebuild_progress))

    assert (progress.generation, progress.events_done, progress.events_total) == ("5", 20, 50)
    assert progress.targets == {("events", 0): 50}
