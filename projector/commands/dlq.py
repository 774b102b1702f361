"""``python -m projector dlq list|show|replay``: the dead letters, for operators.

A dead letter is named by its own coordinates, ``<dlq topic>:<partition>:<offset>``.
Each is judged twice: by the reason the projector gave when it rejected the
record (header ``dlq.reason``) and by decoding it again today, with the
pipeline's own ``decode_record``, so that after a fix ``replay`` puts back
exactly the records that the projector would now apply.

Reading never joins a consumer group (partitions are assigned by hand) and goes
up to each partition's true end (its high watermark), within a time bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from events.kafka import KafkaConnection
from projector.commands.deadletter_view import (
    KINDS,
    DeadLetter,
    Diagnosis,
    UsageError,
    diagnose,
    format_list,
    format_show,
    format_summary,
    letter_json,
    parse_id,
    truncate,
)
from projector.kafka.offsets import log_end_offsets
from projector.kafka.replay import read_records
from projector.settings import ProjectorSettings
from projector.worker.startup import StartupError

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 5.0


Command = Callable[[ProjectorSettings, argparse.Namespace], Awaitable[int]]


async def read_dead_letters(
    kafka: KafkaConnection,
    ranges: dict[TopicPartition, tuple[int, int]],
    timeout_s: float = READ_TIMEOUT_S,
) -> list[DeadLetter]:
    """The records of each partition from ``start`` to ``end`` (exclusive), no group joined."""
    letters: list[DeadLetter] = []
    ends = {tp: end for tp, (_, end) in ranges.items()}
    reached = {tp: start for tp, (start, _) in ranges.items()}
    try:
        async with asyncio.timeout(timeout_s):
            async for records, positions in read_records(kafka, ends, reached, 10_000):
                letters += [DeadLetter(record) for record in records]
                reached.update(positions)
    except TimeoutError:
        logger.warning(
            "stopped reading after %ss; not read to the end: %s",
            timeout_s,
            ", ".join(
                f"{tp.topic}[{tp.partition}]" for tp in sorted(ends) if reached[tp] < ends[tp]
            ),
        )
    return letters


async def read_all(settings: ProjectorSettings, dlq_topics: Iterable[str]) -> list[DeadLetter]:
    ends = await _ends(settings, dlq_topics)
    letters = await read_dead_letters(settings.kafka, {tp: (0, end) for tp, end in ends.items()})
    return sorted(letters, key=_oldest_first)


def _oldest_first(letter: DeadLetter) -> tuple[int, str, int, int]:
    record = letter.record
    return record.timestamp_ms or 0, record.topic, record.partition, record.offset


async def read_ids(settings: ProjectorSettings, ids: Sequence[str]) -> dict[str, DeadLetter]:
    """The dead letters of ``ids`` that exist, by id as given (``UsageError`` if malformed)."""
    wanted = [parse_id(text) for text in ids]
    ends = await _ends(settings, {tp.topic for tp, _ in wanted})
    ranges: dict[TopicPartition, tuple[int, int]] = {}
    for tp, offset in wanted:
        if offset < ends.get(tp, 0):
            start, end = ranges.get(tp, (offset, offset + 1))
            ranges[tp] = (min(start, offset), max(end, offset + 1))
    letters = await read_dead_letters(settings.kafka, ranges)
    by_id = {letter.id: letter for letter in letters}
    named = {
        text: f"{tp.topic}:{tp.partition}:{offset}"
        for text, (tp, offset) in zip(ids, wanted, strict=True)
    }
    return {text: by_id[id_] for text, id_ in named.items() if id_ in by_id}


async def republish(
    kafka: KafkaConnection, letters: Sequence[DeadLetter]
) -> list[tuple[DeadLetter, str]]:
    """Each letter's key and value back on its source partition, acked by every replica."""
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    done = []
    try:
        for letter in letters:
            meta = await producer.send_and_wait(
                letter.source_topic,
                value=letter.record.value,
                key=letter.record.key,
                partition=letter.source_partition,
                headers=[("dlq.replay_of", letter.id.encode())],
            )
            done.append((letter, f"{meta.topic}[{meta.partition}]@{meta.offset}"))
    finally:
        await producer.stop()
    return done


# The commands.


async def run_list(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    async with _kafka(settings):
        letters = await read_all(settings, _dlq_topics(settings, args.topic))
    judged = [(letter, diagnose(letter)) for letter in letters]
    if args.json:
        _write(json.dumps(letter_json(letter, d), ensure_ascii=False) for letter, d in judged)
        return 0
    shown = judged if args.limit is None else judged[max(len(judged) - args.limit, 0) :]
    kinds = Counter(diagnosis.kind for _, diagnosis in judged)
    _write([*format_list(shown), *format_summary(kinds, len(judged), len(shown))])
    return 0


async def run_show(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    async with _kafka(settings):
        letter = (await read_ids(settings, [args.id])).get(args.id)
    if letter is None:
        _error(f"no dead letter {args.id}")
        return 1
    diagnosis = diagnose(letter)
    if args.json:
        _write([json.dumps({**letter_json(letter, diagnosis), **_raw_json(letter)})])
    else:
        _write(format_show(letter, diagnosis))
    return 0


async def run_replay(settings: ProjectorSettings, args: argparse.Namespace) -> int:
    if args.topic and not args.all:
        raise UsageError("--topic goes with --all")
    async with _kafka(settings):
        if args.all:
            chosen = await read_all(settings, _dlq_topics(settings, args.topic))
            missing = []
        else:
            found = await read_ids(settings, args.ids)
            ids = list(dict.fromkeys(args.ids))
            chosen = [found[id_] for id_ in ids if id_ in found]
            missing = [id_ for id_ in ids if id_ not in found]
        accepted, refused = choose(chosen, args.kind, args.force)
        republished = await republish(settings.kafka, accepted)
    _write(f"missing   {id_}: no such dead letter" for id_ in missing)
    _write(
        f"refused   {letter.id}: still invalid ({d.kind}): {truncate(d.reason_now or '')}"
        " (--force replays it anyway)"
        for letter, d in refused
    )
    _write(f"replayed  {letter.id} -> {where}" for letter, where in republished)
    _write([f"{len(republished)} replayed, {len(refused)} refused, {len(missing)} missing"])
    return 1 if missing or refused else 0


def choose(
    letters: Iterable[DeadLetter], kind: str | None, force: bool
) -> tuple[list[DeadLetter], list[tuple[DeadLetter, Diagnosis]]]:
    """The letters of ``kind`` to replay, and those refused because they still fail."""
    accepted, refused = [], []
    for letter in letters:
        diagnosis = diagnose(letter)
        if kind is not None and diagnosis.kind != kind:
            continue
        if diagnosis.valid_now or force:
            accepted.append(letter)
        else:
            refused.append((letter, diagnosis))
    return accepted, refused


def _usage_errors(command: Command) -> Command:
    async def run(settings: ProjectorSettings, args: argparse.Namespace) -> int:
        try:
            return await command(settings, args)
        except UsageError as exc:
            _error(str(exc))
            return 2

    return run


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="list, show and replay dead letters")
    actions = dlq.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="every dead letter, and counts per kind")
    listing.add_argument("--topic", help="only the dead letters of this source topic")
    listing.add_argument("--limit", type=_count, metavar="N", help="list only the newest N")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=_usage_errors(run_list))

    show = actions.add_parser("show", help="everything about one dead letter")
    show.add_argument("id", help="<dlq topic>:<partition>:<offset>, as `dlq list` prints it")
    show.add_argument("--json", action="store_true", help="a JSON object")
    show.set_defaults(run=_usage_errors(run_show))

    replay = actions.add_parser(
        "replay", help="republish dead letters to their source topic, key and value unchanged"
    )
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("ids", nargs="*", default=[], metavar="ID", help="dead letter ids")
    chosen.add_argument("--all", action="store_true", help="every dead letter (see filters)")
    replay.add_argument("--topic", help="with --all: only those of this source topic")
    replay.add_argument("--kind", choices=KINDS, help="only those of this kind")
    replay.add_argument("--force", action="store_true", help="replay even what still fails")
    replay.set_defaults(run=_usage_errors(run_replay))


# Helpers of the commands.


def _dlq_topics(settings: ProjectorSettings, source: str | None) -> tuple[str, ...]:
    """Every dead-letter topic, or that of one source topic (named with or without prefix)."""
    topics = settings.topics
    if source is None:
        return topics.dead_letters()
    for name, dlq in zip(topics.names(), topics.dead_letters(), strict=True):
        if source in (name, name.removeprefix(settings.topic_prefix)):
            return (dlq,)
    raise UsageError(f"unknown source topic {source!r}; one of {', '.join(topics.names())}")


async def _ends(settings: ProjectorSettings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    return await log_end_offsets(settings.kafka, topics)


@asynccontextmanager
async def _kafka(settings: ProjectorSettings) -> AsyncIterator[None]:
    """Fails fast, as ``StartupError`` (one line on stderr), when the broker is unreachable."""
    servers = settings.kafka
    probe = AIOKafkaConsumer(**servers.client_options(), request_timeout_ms=5000)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await probe.start()
            await probe.topics()  # a metadata round trip (and lets its tasks start)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise StartupError(f"Kafka at {servers} unreachable: {exc!r}") from exc
    finally:
        await probe.stop()
    try:
        yield
    except (KafkaError, OSError) as exc:
        raise StartupError(f"Kafka at {servers}: {exc!r}") from exc


def _raw_json(letter: DeadLetter) -> dict[str, Any]:
    def text(data: bytes | None) -> str | None:
        return None if data is None else data.decode(errors="replace")

    return {
        "headers": {name: value.decode(errors="replace") for name, value in letter.record.headers},
        "key": text(letter.record.key),
        "value": text(letter.record.value),
    }


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(text)


def _write(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def _error(message: str) -> None:
    sys.stderr.write(f"projector dlq: {message}\n")
