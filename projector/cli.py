"""The projector's command line.

    python -m projector [worker]           consume the topics into the read model
    python -m projector rebuild [--abort]  replay every topic into a new generation, then swap
    python -m projector verify             compare the served generation with a fresh replay
    python -m projector status             offsets, lag, generations, counts, rebuilds
    python -m projector dlq list|show|replay   dead letters

Every command reads its settings from the environment (``ProjectorSettings``)
and logs to stderr; what a command reports goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from events.config import ConfigError, one_line
from events.kafka_check import check_kafka
from events.logs import LogFormatError, configure_logging, redact
from projector.commands import dlq as deadletter_cli
from projector.commands import rebuild, status, verify
from projector.settings import ProjectorSettings
from projector.worker.startup import StartupError, prepare
from readmodel.connections import check_redis, connect_redis

Command = Callable[[ProjectorSettings, argparse.Namespace], Coroutine[Any, Any, int]]


async def check_access(settings: ProjectorSettings) -> None:
    """``ConfigError`` if Kafka or Redis refuses this process's TLS or credentials
    (an unreachable service is each command's to wait for or report)."""
    await check_kafka(settings.kafka)
    redis = connect_redis(settings.redis, socket_connect_timeout=2, socket_timeout=5)
    try:
        await check_redis(redis, settings.redis)
    except RedisError:
        pass
    finally:
        await redis.aclose()


def run_worker(settings: ProjectorSettings) -> int:
    from faust import Worker

    from projector.worker.app import create_app

    try:
        asyncio.run(prepare(settings))
    except StartupError as exc:
        print(f"projector: {redact(str(exc))}", file=sys.stderr)
        return 1
    app = create_app(settings)
    # Faust keeps the logging ``configure_logging`` set up (LOG_FORMAT).
    worker = Worker(app, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None  # its terminal escapes would break LOG_FORMAT=json lines
    worker.execute_from_commandline()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m projector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command")
    commands.add_parser("worker", help="consume the topics into the read model (default)")
    rebuild.add_parser(commands)
    verify.add_parser(commands)
    status.add_parser(commands)
    deadletter_cli.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        configure_logging()
    except LogFormatError as exc:
        print(f"projector: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        settings = ProjectorSettings()
    except ValidationError as exc:
        print(f"projector: bad configuration: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        asyncio.run(check_access(settings))
    except ConfigError as exc:
        print(f"projector: bad configuration: {redact(str(exc))}", file=sys.stderr)
        return 2
    if args.command in (None, "worker"):
        return run_worker(settings)
    command: Command = args.run
    try:
        return asyncio.run(command(settings, args))
    except StartupError as exc:
        print(f"projector {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"projector {args.command}: interrupted", file=sys.stderr)
        return 130
