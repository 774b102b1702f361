"""``python -m devstack`` forwards its children's output: a JSON log line stays
one JSON object (``LOG_FORMAT=json``), tagged with the child's name."""

from __future__ import annotations

import json

import pytest

from devstack.process import tagged


def test_a_json_line_gains_the_process_name() -> None:
    line = json.dumps({"level": "INFO", "logger": "api", "message": "hi"})
    assert json.loads(tagged(line, "api") or "") == {
        "level": "INFO",
        "logger": "api",
        "message": "hi",
        "process": "api",
    }


@pytest.mark.parametrize("line", ["2026-01-05 09:30:00 INFO api: hi", "{not json", "[1, 2]", ""])
def test_any_other_line_is_left_to_the_prefix(line: str) -> None:
    assert tagged(line, "api") is None
