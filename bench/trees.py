"""Run a benchmark's function in other checkouts of this project, side by side.

Comparing two trees on these noisy machines means measuring both in one run,
interleaved. ``run_in_tree`` calls a function of a bench file in a process of
its own with ``PYTHONPATH=TREE``, so that it measures that tree's code; the
file is loaded by its path, since the tree under test may not have it. What
the function imports at call time comes from the tree: keep the file's own
top-level imports to the standard library and third-party packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

_CALL = (
    "import importlib.util, json, sys; "
    "spec = importlib.util.spec_from_file_location('bench_in_tree', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
    "print(json.dumps(getattr(module, sys.argv[2])(*sys.argv[3:])))"
)


def run_in_tree(tree: Path, bench_file: str, function: str, *args: str) -> Any:
    """``function(*args)`` of ``bench_file``, run in ``tree``; its result (JSON)."""
    done = subprocess.run(
        [sys.executable, "-c", _CALL, bench_file, function, *args],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
