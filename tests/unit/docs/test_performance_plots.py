"""The performance page's plots are drawn from the results file it names, as they are now."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.plots import draw

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "performance.md"
PLOTS = ROOT / "docs" / "plots"


def source_of_the_page() -> Path:
    named = re.findall(r"python -m bench\.plots (\S+) --out docs/plots", PAGE.read_text())
    assert len(named) == 1, "docs/performance.md must name one results file to draw from"
    return ROOT / named[0]


def test_the_committed_plots_are_drawn_from_the_named_results() -> None:
    results = source_of_the_page()
    drawn = draw(json.loads(results.read_text()), results.name)
    assert drawn, f"{results} holds nothing to draw"
    for name, svg in drawn.items():
        committed = PLOTS / name
        assert committed.is_file(), f"docs/plots/{name} is missing"
        assert committed.read_text() == svg, (
            f"docs/plots/{name} is not drawn from {results.name}: run "
            f"`.venv/bin/python -m bench.plots {results.relative_to(ROOT)} --out docs/plots`"
        )


def test_every_plot_on_the_page_exists() -> None:
    shown = re.findall(r"\]\((plots/[^)]+\.svg)\)", PAGE.read_text())
    assert shown
    for path in shown:
        assert (ROOT / "docs" / path).is_file(), path
