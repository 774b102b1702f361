"""``python -m projector verify``: the served generation against a fresh replay.

Every topic is read from its beginning to its end and replayed into the
in-memory reference model (``projector.projection.memory``) through the projector's own
decoding and projection; then each organization's list in Redis is compared
with it, meeting by meeting and field by field. Exit status 0 only when they
agree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from events.errors import InvalidEvent
from events.times import wall_clock_ms
from projector.kafka.offsets import committed_offsets, log_end_offsets
from projector.kafka.replay import read_records
from projector.projection.memory import InMemoryReadModel
from projector.settings import ProjectorSettings
from projector.worker.pipeline import decode_record
from projector.worker.startup import prepare
from readmodel.connections import RedisClient, connect_redis
from readmodel.documents import expand
from readmodel.keys import Control, Keyspace, as_text, meeting_id_of

logger = logging.getLogger(__name__)

Row = tuple[int, int, bytes]  # start ms, meeting id, document


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="compare the served generation with a fresh replay of the topics"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the projector to reach the replayed position (default 30)",
    )
    parser.set_defaults(run=run)


def compare(organization_id: int, expected: Sequence[Row], actual: Sequence[Row]) -> list[str]:
    """Every difference between two lists, one line each."""
    where = f"organization {organization_id}"
    wanted = {meeting_id: doc for _, meeting_id, doc in expected}
    found = {meeting_id: doc for _, meeting_id, doc in actual}
    lines = [f"{where}: meeting {m}: missing" for m in wanted if m not in found]
    lines += [f"{where}: meeting {m}: not expected" for m in found if m not in wanted]
    for meeting_id in wanted.keys() & found.keys():
        want, got = json.loads(wanted[meeting_id]), json.loads(found[meeting_id])
        for field in [*want, *(f for f in got if f not in want)]:
            if want.get(field) != got.get(field):
                lines.append(
                    f"{where}: meeting {meeting_id}: {field}: "
                    f"expected {want.get(field)!r}, found {got.get(field)!r}"
                )
        if list(want) != list(got):
            lines.append(f"{where}: meeting {meeting_id}: field order {list(got)}")
    common = [m for _, m, _ in expected if m in found]
    if common != [m for _, m, _ in actual if m in wanted]:
        lines.append(f"{where}: order differs")
    return sorted(lines)


async def read_list(
    redis: RedisClient, keyspace: Keyspace, organization_id: int, now_ms: int
) -> list[Row]:
    """An organization's upcoming list as Redis holds it, in order."""
    keys = keyspace.org(organization_id)
    listed: list[Any] = await redis.zrange(keys.start, 0, -1, withscores=True)
    if not listed:
        return []
    members = [as_text(member) for member, _ in listed]
    pipe = redis.pipeline(transaction=False)
    pipe.zmscore(keys.end, members)
    pipe.hmget(keys.doc, members)
    ends, docs = await pipe.execute()
    return [
        (int(start), meeting_id_of(member), expand(doc))
        for (member, start), end, doc in zip(listed, ends, docs, strict=True)
        if end is not None and end > now_ms
    ]


async def replay_in_memory(
    settings: ProjectorSettings, targets: Any
) -> tuple[InMemoryReadModel, int]:
    reference, unusable = InMemoryReadModel(), 0
    batches = read_records(settings.kafka, targets, {}, settings.rebuild_batch_size)
    async for records, _ in batches:
        for record in records:
            try:
                reference.apply([decode_record(record)])
            except InvalidEvent:
                unusable += 1
    return reference, unusable


async def wait_for_projector(settings: ProjectorSettings, targets: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        committed = await committed_offsets(settings.kafka, settings.group_id, targets)
        if all(committed[tp] >= end for tp, end in targets.items()):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.5)


async def run(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    await prepare(settings)
    targets = await log_end_offsets(settings.kafka, settings.topics.names())
    reference, unusable = await replay_in_memory(settings, targets)
    if not await wait_for_projector(settings, targets, args.wait):
        print(
            "warning: the projector has not reached the replayed position; "
            "differences may only be lag"
        )
    redis = connect_redis(settings.redis)
    try:
        control = Control(settings.key_prefix)
        current = await redis.get(control.current)
        if current is None:
            print("no generation is served: nothing to verify against")
            return 1
        keyspace = control.keyspace(as_text(current))
        now = wall_clock_ms()
        organizations = reference.organizations() | {
            int(org) for org in await redis.smembers(keyspace.orgs)
        }
        differences: list[str] = []
        for org in sorted(organizations):
            expected = reference.upcoming(org, now)
            differences += compare(org, expected, await read_list(redis, keyspace, org, now))
    finally:
        await redis.aclose()
    for line in differences:
        print(line)
    events = sum(targets.values())
    verdict = "agree" if not differences else f"differ in {len(differences)} places"
    print(
        f"generation {keyspace.generation} and a replay of {events:,} events "
        f"({unusable:,} unusable) {verdict}, over {len(organizations)} organizations"
    )
    return 0 if not differences else 1
