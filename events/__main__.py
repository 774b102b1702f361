"""``python -m events schema DIR``: write the contract's JSON Schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from events.schema import write_schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("schema", help="write one JSON Schema per event type")
    schema.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    if args.command == "schema":
        for path in write_schemas(args.directory):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
