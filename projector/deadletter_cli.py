"""Not built yet: the command is not offered until it is."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    return None


async def run(settings: Any, args: argparse.Namespace) -> int:
    raise NotImplementedError
