"""The rebuild's progress hash, as the rebuild writes it and rebuild and status read it."""

from __future__ import annotations

from readmodel.generations import RebuildProgress


def test_the_progress_reads_back_as_written() -> None:
    progress = RebuildProgress(
        "3", 1_000, targets={("a.b", 0): 10, ("a.b", 1): 4}, positions={("a.b", 0): 7}
    )
    stored = {str(name).encode(): str(value).encode() for name, value in progress.fields().items()}

    parsed = RebuildProgress.parse(stored)

    assert parsed.generation == "3"
    assert parsed.started_ms == 1_000
    assert parsed.targets == {("a.b", 0): 10, ("a.b", 1): 4}
    assert parsed.positions == {("a.b", 0): 7, ("a.b", 1): 0}
    assert (parsed.events_done, parsed.events_total) == (7, 14)
    assert parsed.updated_ms is not None


def test_what_is_missing_or_malformed_is_left_unknown() -> None:
    parsed = RebuildProgress.parse(
        {"target:t:x": "1", "target:t:0": "z", "position:t:1": "5", "target:t:1": "9", "odd": "1"}
    )

    assert parsed.generation is None
    assert parsed.started_ms is None
    assert parsed.targets == {("t", 1): 9}
    assert parsed.positions == {("t", 1): 5}
    assert parsed.events_total is None
