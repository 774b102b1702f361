"""The documentation site builds with ``mkdocs build --strict``, and the README's links resolve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# [text](target) in Markdown, the target up to a space, a closing bracket or a #.
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    # --strict turns every warning into a failure: a broken link or anchor,
    # a page missing from the nav, an unknown option.
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        # The theme's banner about its successor is not a build warning.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "configuration" / "index.html").is_file()


def test_the_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = [t for t in _LINK.findall(readme) if "://" not in t and not t.startswith("mailto:")]
    assert any(t.startswith("docs/") for t in targets), "the README links to no docs page"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_contract_page_shows_the_committed_examples() -> None:
    page = (ROOT / "docs" / "events.md").read_text()
    examples = (ROOT / "docs" / "examples.jsonl").read_text().splitlines()
    stale = [line for line in examples if line and line not in page]
    assert not stale, f"docs/events.md lacks these lines of docs/examples.jsonl: {stale}"
