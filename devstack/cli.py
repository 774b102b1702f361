"""``python -m devstack up``: run the whole system on this machine, no Docker needed."""

import argparse
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devstack.errors import DevstackError
from devstack.ports import LOOPBACK, is_port_free
from devstack.stack import StackOptions, run_stack
from events.logs import LogFormatError, configure_logging

logger = logging.getLogger("devstack")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        configure_logging("[devstack] %(message)s")
    except LogFormatError as exc:
        print(f"devstack: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    busy = _busy_ports(args)
    if busy:
        for flag, port in busy:
            print(
                f"devstack: port {port} on {LOOPBACK} is in use; choose another with {flag}",
                file=sys.stderr,
            )
        return EXIT_USAGE
    options = StackOptions(
        log_dir=Path(tempfile.mkdtemp(prefix="devstack-")),
        api_port=args.api_port,
        kafka_port=args.kafka_port,
        redis_port=args.redis_port,
        ready_timeout=args.ready_timeout,
    )
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_stack(options)
    except KeyboardInterrupt:
        logger.info("stopped")
        return EXIT_OK
    except DevstackError as exc:
        logger.error("%s", exc)
        logger.error("logs of the broker and Redis: %s", options.log_dir)
        return EXIT_FAILED
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="start the broker, Redis, the projector and the API, load the demo data, and wait",
    )
    up.add_argument("--api-port", type=int, default=8000, help="the API's port (default: 8000)")
    up.add_argument("--kafka-port", type=int, help="the broker's port (default: a free one)")
    up.add_argument("--redis-port", type=int, help="Redis's port (default: a free one)")
    up.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each step of the start-up (default: 60)",
    )
    return parser


def _busy_ports(args: argparse.Namespace) -> list[tuple[str, int]]:
    wanted = [("--api-port", args.api_port), ("--kafka-port", args.kafka_port)]
    wanted.append(("--redis-port", args.redis_port))
    return [(flag, port) for flag, port in wanted if port is not None and not is_port_free(port)]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise KeyboardInterrupt for Ctrl-C or SIGTERM; ignore further ones while stopping."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt
