"""The contract's tools for publishers.

    python -m events schema DIR       write one JSON Schema per event type
    python -m events asyncapi FILE    write the AsyncAPI document (schemas in FILE's folder)
    python -m events publish FILE     validate a JSON Lines file, then publish every event

``publish`` publishes nothing unless every line is a valid event; it reports
each invalid line with its reason. Once published, it prints the events'
consistency token (docs/consistency.md) on a line of its own. It reads
KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC_PREFIX from the environment unless
given as options, and TLS and SASL from the KAFKA_* variables of
events/kafka.py (docs/connecting.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from events.asyncapi import write_asyncapi
from events.config import ConfigError, one_line
from events.errors import PublishError
from events.jsonlines import read_events
from events.kafka import KafkaConnection, KafkaSettings
from events.kafka_check import check_kafka
from events.logs import LogFormatError, configure_logging
from events.publisher import KafkaEventPublisher
from events.schema import write_schemas
from events.topics import Topics


def publish(path: Path, kafka: KafkaConnection, topic_prefix: str) -> int:
    with path.open(encoding="utf-8") as lines:
        events, bad = read_events(lines)
    for line in bad:
        print(f"{path}:{line.number}: {line.reason}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} invalid line(s): nothing published", file=sys.stderr)
        return 1

    async def send() -> str:
        await check_kafka(kafka)
        topics = Topics.with_prefix(topic_prefix)
        async with KafkaEventPublisher(kafka, topics) as publisher:
            return await publisher.publish_many(events)

    try:
        token = asyncio.run(send())
    except ConfigError as exc:
        print(f"bad configuration: {exc}", file=sys.stderr)
        return 2
    except PublishError as exc:
        print(f"publish failed: {exc}", file=sys.stderr)
        return 1
    print(f"published {len(events)} event(s) to {kafka}")
    print(f"X-Consistency-Token: {token}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m events",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("schema", help="write one JSON Schema per event type")
    schema.add_argument("directory", type=Path)
    asyncapi = commands.add_parser("asyncapi", help="write the AsyncAPI document")
    asyncapi.add_argument("file", type=Path)
    sender = commands.add_parser("publish", help="validate a JSON Lines file, then publish it")
    sender.add_argument("file", type=Path)
    sender.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
    )
    sender.add_argument("--topic-prefix", default=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    args = parser.parse_args(argv)
    try:
        configure_logging()  # aiokafka's warnings, as LOG_FORMAT says
    except LogFormatError as exc:
        print(f"python -m events: bad configuration: {exc}", file=sys.stderr)
        return 2

    if args.command == "schema":
        for path in write_schemas(args.directory):
            print(path)
    elif args.command == "asyncapi":
        write_schemas(args.file.parent / "schemas")
        print(write_asyncapi(args.file))
    elif args.command == "publish":
        try:
            kafka = KafkaSettings().kafka
        except ValidationError as exc:
            print(f"bad configuration: {one_line(exc)}", file=sys.stderr)
            return 2
        kafka = dataclasses.replace(kafka, bootstrap_servers=args.bootstrap_servers)
        return publish(args.file, kafka, args.topic_prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
