"""The soak (``python -m tests.soak``) for one minute: no mismatch, every answer a 200."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.system import REPO


@pytest.mark.slow
def test_a_one_minute_soak_finds_no_mismatch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.soak", "--minutes", "1", "--log-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mismatches: 0" in result.stdout
    assert "not 200: 0" in result.stdout
