"""Plain-text tables of a benchmark's results, the machine they ran on, and their JSON.

Every part of ``scripts/bench`` also saves what it measured as JSON
(``save_results``): by default ``bench/results/<date>.json``, where the parts
of one day's runs are merged under their own keys (``api``, ``projector``),
each with the machine it ran on. ``python -m bench.plots FILE`` draws the
performance page's plots from such a file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_SCHEMA = 1


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


def machine_facts(redis_server: str) -> dict[str, Any]:
    """When and where, as data: date, CPUs, kernel, and the versions that matter."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "kernel": f"Linux {platform.release()}",
        "python": platform.python_version(),
        "redis": version_of([redis_server, "--version"]),
        "wrk": version_of(["wrk", "--version"]),
    }


def machine(redis_server: str) -> str:
    """When and where: date, CPUs, kernel, and the versions that matter."""
    facts = machine_facts(redis_server)
    return "\n".join(
        [
            f"date: {facts['date']}",
            f"machine: {facts['cpus']} CPUs (nproc), {facts['cpu']}, {facts['kernel']}",
            f"python {facts['python']}; {facts['redis']}; {facts['wrk']}",
        ]
    )


def results_path(option: str | None) -> Path:
    """The file a part saves its results to: ``option``, else today's file in bench/results/."""
    if option:
        return Path(option)
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return RESULTS_DIR / f"{today}.json"


def save_results(path: Path, part: str, results: Mapping[str, Any], redis_server: str) -> Path:
    """Store one part's results (and its machine) in ``path``, keeping the other parts there."""
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = json.loads(path.read_text())
        except ValueError as exc:
            raise SystemExit(f"{path}: not a results file ({exc}); pass another --results") from exc
    document["schema"] = RESULTS_SCHEMA
    document.setdefault("source", "measured by scripts/bench")
    document[part] = {"machine": machine_facts(redis_server), **results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def ms(value: float) -> str:
    return f"{value:.2f}"
