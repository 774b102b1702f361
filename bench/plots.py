"""SVG plots of a results file of ``scripts/bench``, for the docs' performance page.

    .venv/bin/python -m bench.plots bench/results/<date>.json [--out docs/plots]

Reads the JSON the benchmark parts save (``bench/report.py``, ``save_results``)
and writes one SVG per figure into ``--out``; each names the date and the
machine of its run, and the file it was drawn from. The SVG is written by hand
(no plotting library) and is the same for the same input, so a committed plot
changes only when its figures do. A part missing from the file is skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

WIDTH = 760
LABEL_WIDTH = 190
BAR_HEIGHT = 16
BAR_GAP = 3
GROUP_GAP = 14
TOP = 96
COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


@dataclass(frozen=True, slots=True)
class Bar:
    series: str  # legend entry, one colour each
    value: float
    label: str  # printed at the bar's end


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    bars: Sequence[Bar]


def machine_line(part: dict[str, Any]) -> str:
    facts = part.get("machine", {})
    cpus = facts.get("cpus")
    cpu = facts.get("cpu") or "unknown CPU"
    return f"{facts.get('date', 'undated')}, {cpus} CPUs ({cpu}), Python {facts.get('python')}"


def bar_chart(
    title: str,
    subtitle: tuple[str, str],
    unit: str,
    groups: Sequence[Group],
    marker: tuple[float, str] | None = None,
) -> str:
    """Horizontal bars, grouped; ``marker`` draws a dashed line at a value (a target)."""
    series = list(dict.fromkeys(bar.series for group in groups for bar in group.bars))
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(series)}
    largest = max(
        [bar.value for group in groups for bar in group.bars] + [marker[0] if marker else 0]
    )
    plot_width = WIDTH - LABEL_WIDTH - 140
    scale = plot_width / largest if largest > 0 else 0.0
    body: list[str] = []
    y = TOP
    for group in groups:
        group_height = len(group.bars) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
        body.append(
            f"<text x='{LABEL_WIDTH - 8}' y='{y + group_height / 2 + 4:.1f}' "
            f"text-anchor='end' font-size='12'>{escape(group.name)}</text>"
        )
        for bar in group.bars:
            width = max(bar.value * scale, 0.5)
            body.append(
                f"<rect x='{LABEL_WIDTH}' y='{y}' width='{width:.1f}' height='{BAR_HEIGHT}' "
                f"fill='{colour[bar.series]}'><title>{escape(bar.series)}: "
                f"{escape(bar.label)}</title></rect>"
            )
            body.append(
                f"<text x='{LABEL_WIDTH + width + 4:.1f}' y='{y + BAR_HEIGHT - 4}' "
                f"font-size='11'>{escape(bar.label)}</text>"
            )
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    if marker is not None:
        x = LABEL_WIDTH + marker[0] * scale
        body.append(
            f"<line x1='{x:.1f}' y1='{TOP - 6}' x2='{x:.1f}' y2='{y - GROUP_GAP + 4}' "
            "stroke='#333' stroke-dasharray='4 3'/>"
        )
        body.append(
            f"<text x='{x - 3:.1f}' y='{TOP - 8}' font-size='11' "
            f"text-anchor='end'>{escape(marker[1])}</text>"
        )
    legend_y = y + 6
    legend_x = LABEL_WIDTH
    for name in series:
        body.append(
            f"<rect x='{legend_x}' y='{legend_y}' width='12' height='12' fill='{colour[name]}'/>"
        )
        body.append(
            f"<text x='{legend_x + 16}' y='{legend_y + 10}' font-size='11'>{escape(name)}</text>"
        )
        legend_x += 28 + 7 * len(name)
    height = legend_y + 30
    head = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' {FONT}>",
        f"<rect width='{WIDTH}' height='{height}' fill='white'/>",
        f"<text x='10' y='20' font-size='15' font-weight='bold'>{escape(title)}</text>",
        f"<text x='10' y='38' font-size='11' fill='#444'>{escape(subtitle[0])}</text>",
        f"<text x='10' y='54' font-size='11' fill='#444'>{escape(subtitle[1])}</text>",
        f"<text x='10' y='70' font-size='11' fill='#444'>bars in {escape(unit)}</text>",
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"


@dataclass(frozen=True, slots=True)
class ApiFigure:
    """One plot of the API part: its title, unit, and the bars of a floor and an API run."""

    title: str
    unit: str
    floor_bar: Callable[[dict[str, Any]], tuple[float, str]]
    api_bar: Callable[[dict[str, Any]], tuple[float, str]]


API_FIGURES = {
    "api-throughput.svg": ApiFigure(
        "API throughput next to its floor, same run",
        "requests/s",
        lambda run: (run["floor_rate"], f"{run['floor_rate']:,}"),
        lambda run: (run["rate"], f"{run['rate']:,} ({run['ratio']:.2f} of the floor)"),
    ),
    "api-latency.svg": ApiFigure(
        "API p99 latency next to its floor, same run",
        "milliseconds",
        lambda run: (run["floor_p99_ms"], f"{run['floor_p99_ms']:.2f} ms"),
        lambda run: (run["p99_ms"], f"{run['p99_ms']:.2f} ms ({run['p99_ratio']:.2f}x)"),
    ),
}


def api_chart(api: dict[str, Any], source: str, figure: ApiFigure) -> str:
    """Per scenario: its floor's bar, then one bar per cache variant of the API."""
    groups = []
    for scenario in dict.fromkeys(run["scenario"] for run in api["runs"]):
        runs = {run["cache"]: run for run in api["runs"] if run["scenario"] == scenario}
        bars = [Bar("floor (bare ASGI route)", *figure.floor_bar(next(iter(runs.values()))))]
        bars += [Bar(f"API, cache {cache}", *figure.api_bar(run)) for cache, run in runs.items()]
        groups.append(Group(scenario, bars))
    return bar_chart(figure.title, (machine_line(api), f"from {source}"), figure.unit, groups)


def memory(api: dict[str, Any], source: str) -> str:
    figures = api["memory"]
    groups = [
        Group(kind, [Bar("bytes per upcoming meeting", size, f"{size:,} B")])
        for kind, size in figures["by_kind"].items()
    ]
    groups.append(
        Group(
            "all keys (used_memory)",
            [Bar("total", figures["bytes_per_meeting"], f"{figures['bytes_per_meeting']:,} B")],
        )
    )
    return bar_chart(
        "Redis memory per upcoming meeting, by kind of key",
        (machine_line(api), f"from {source}"),
        "bytes",
        groups,
        marker=(figures["target_bytes"], f"target < {figures['target_bytes']:,} B"),
    )


def projector_throughput(projector: dict[str, Any], source: str) -> str:
    groups = [
        Group(
            subject["subject"],
            [
                Bar("floor (decode only)", subject["floor_rate"], f"{subject['floor_rate']:,}"),
                Bar(
                    "subject",
                    subject["rate"],
                    f"{subject['rate']:,} ({subject['ratio']:.2f} of the floor)",
                ),
            ],
        )
        for subject in projector["subjects"]
        if subject["floor_rate"] and subject["subject"].startswith("projector")
    ]
    return bar_chart(
        "Live projector throughput next to its floor (Faust, decode only), same run",
        (machine_line(projector), f"from {source}"),
        "events/s",
        groups,
    )


def rebuild(projector: dict[str, Any], source: str) -> str | None:
    """The rebuild's wall time against its target, if the results hold it."""
    runs = [
        subject
        for subject in projector.get("subjects", [])
        if subject["subject"].startswith("rebuild (wall") and subject.get("seconds")
    ]
    if not runs:
        return None
    target = projector["target"]["rebuild_s"]
    groups = [
        Group(
            f"{run['events']:,} events",
            [
                Bar(
                    "wall time",
                    run["seconds"],
                    f"{run['seconds']:.1f} s ({run['rate']:,} events/s)",
                )
            ],
        )
        for run in runs
    ]
    return bar_chart(
        "Rebuild: replaying every topic into a new generation",
        (machine_line(projector), f"from {source}"),
        "seconds",
        groups,
        marker=(target, f"target <= {target:.0f} s"),
    )


def freshness(projector: dict[str, Any], source: str) -> str:
    groups = [
        Group(
            f"fetch wait {run['fetch_max_wait_ms']} ms",
            [
                Bar("p50", run["p50_ms"], f"{run['p50_ms']:.1f} ms"),
                Bar("p99", run["p99_ms"], f"{run['p99_ms']:.1f} ms"),
            ],
        )
        for run in projector["freshness"]
    ]
    target = projector["target"]["freshness_p99_ms"]
    rate = projector["freshness"][0]["rate"] if projector["freshness"] else 0
    return bar_chart(
        f"Freshness: publish to visible in the API's read path, at {rate:,} events/s",
        (machine_line(projector), f"from {source}"),
        "milliseconds",
        groups,
        marker=(target, f"target p99 <= {target:.0f} ms"),
    )


def draw(results: dict[str, Any], file_name: str) -> dict[str, str]:
    """File name -> SVG, for every figure the results (read from ``file_name``) hold."""
    source = file_name
    if str(results.get("source", "")).startswith("transcribed"):
        source += " (figures transcribed by hand, see its source field)"
    plots: dict[str, str] = {}
    if api := results.get("api"):
        for name, figure in API_FIGURES.items():
            plots[name] = api_chart(api, source, figure)
        if "memory" in api:
            plots["memory.svg"] = memory(api, source)
    if projector := results.get("projector"):
        if projector.get("subjects"):
            plots["projector-throughput.svg"] = projector_throughput(projector, source)
        if (rebuilt := rebuild(projector, source)) is not None:
            plots["rebuild.svg"] = rebuilt
        if projector.get("freshness"):
            plots["freshness.svg"] = freshness(projector, source)
    return plots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="a results file of scripts/bench")
    parser.add_argument("--out", type=Path, default=Path("docs/plots"), help="directory")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        parser.error(f"{args.results}: {exc}")
    args.out.mkdir(parents=True, exist_ok=True)
    plots = draw(results, args.results.name)
    if not plots:
        parser.error(f"{args.results}: holds no api or projector results")
    for name, svg in plots.items():
        (args.out / name).write_text(svg)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
