"""The top frames of a py-spy profile: where a process spends its samples.

``py-spy record --format raw`` writes collapsed stacks, one line per distinct
stack: ``outermost;...;innermost COUNT``, each frame ``function (file:line)``.
``top_frames`` sums them per function (the line numbers dropped), as the
innermost frame (self) and anywhere in the stack (total, counted once per
stack), and ``print_top_frames`` prints both, as shares of all samples.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_SITE = ("site-packages/", "lib/python3")


@dataclass(frozen=True, slots=True)
class Frames:
    samples: int
    own: Counter[str]  # samples with the function innermost
    total: Counter[str]  # samples with the function anywhere in the stack


def frame_name(frame: str) -> str:
    """``handle (/x/.venv/lib/python3.11/site-packages/uvicorn/h11.py:12)`` ->
    ``handle (uvicorn/h11.py)``: the function and its file, shortened."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in _SITE:
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3":
                path = path.split("/", 1)[-1]
    return f"{match['function']} ({path})"


def top_frames(lines: Iterable[str]) -> Frames:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    return Frames(samples, own, total)


def print_top_frames(path: Path, title: str, n: int = 12) -> None:
    frames = top_frames(path.read_text().splitlines())
    print(f"{title}: {frames.samples:,} samples ({path})")
    if not frames.samples:
        return
    print(f"  {'self':>6}  function (innermost)")
    for name, count in frames.own.most_common(n):
        print(f"  {count / frames.samples:6.1%}  {name}")
    # The frames every stack of the main thread starts with (the interpreter,
    # uvicorn's and asyncio's run) say nothing: left out.
    root = max(frames.total.values())
    print(f"  {'total':>6}  function (anywhere in the stack; the common root left out)")
    inner = [(name, count) for name, count in frames.total.most_common() if count < root]
    for name, count in inner[:n]:
        print(f"  {count / frames.samples:6.1%}  {name}")
