"""Plain-text tables of a benchmark's results, and the machine they ran on."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """Columns right-aligned, except the first; each line starts with ``indent``."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        first, *rest = row
        return (
            indent
            + "  ".join(
                [
                    first.ljust(widths[0]),
                    *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
                ]
            ).rstrip()
        )

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for entry in cpuinfo:
                if entry.startswith("model name"):
                    return entry.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def version_of(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]


def machine(redis_server: str) -> str:
    """When and where: date, CPUs, kernel, and the versions that matter."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpus = len(os.sched_getaffinity(0))
    return "\n".join(
        [
            f"date: {now}",
            f"machine: {cpus} CPUs (nproc), {cpu_model()}, Linux {platform.release()}",
            f"python {platform.python_version()}; "
            f"{version_of([redis_server, '--version'])}; {version_of(['wrk', '--version'])}",
        ]
    )


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def ms(value: float) -> str:
    return f"{value:.2f}"
