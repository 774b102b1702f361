"""The publishers' kit stays true to the models: schemas, AsyncAPI, examples, publish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from events.asyncapi import asyncapi_document
from events.jsonlines import BadLine, read_events
from events.models import EVENT_TYPES
from events.schema import event_schemas
from events.topics import Topics

DOCS = Path(__file__).resolve().parents[3] / "docs"
REGENERATE = "regenerate with `python -m events asyncapi docs/asyncapi.json`"


def test_the_checked_in_schemas_are_those_the_models_generate() -> None:
    checked_in = {
        path.name.removesuffix(".schema.json"): json.loads(path.read_text())
        for path in (DOCS / "schemas").glob("*.schema.json")
    }
    assert checked_in == event_schemas(), REGENERATE


def test_the_checked_in_asyncapi_document_is_the_generated_one() -> None:
    assert json.loads((DOCS / "asyncapi.json").read_text()) == asyncapi_document(), REGENERATE


def test_the_asyncapi_document_puts_every_event_on_its_topic() -> None:
    document = asyncapi_document()
    placed = {
        event_type: channel["address"]
        for channel in document["channels"].values()
        for event_type in channel["messages"]
    }
    examples = [json.loads(line) for line in (DOCS / "examples.jsonl").read_text().splitlines()]
    events, _ = read_events(json.dumps(example) for example in examples)
    assert placed == {event.event_type: Topics().for_event(event) for event in events}
    for message in document["components"]["messages"].values():
        assert (DOCS / message["payload"]["$ref"]).is_file()


def test_the_examples_hold_one_valid_event_of_every_type() -> None:
    events, bad = read_events((DOCS / "examples.jsonl").read_text().splitlines())
    assert bad == []
    assert sorted(event.event_type for event in events) == sorted(
        model.model_fields["event_type"].default for model in EVENT_TYPES
    )


def test_bad_lines_are_reported_with_their_numbers_and_blank_lines_skipped() -> None:
    good = (DOCS / "examples.jsonl").read_text().splitlines()[0]
    events, bad = read_events([good, "", "{nope", good.replace('"version":1', '"version":0')])
    assert len(events) == 1
    assert [line.number for line in bad] == [3, 4]
    assert isinstance(bad[1], BadLine) and "version" in bad[1].reason


def test_publish_publishes_nothing_when_a_line_is_invalid(tmp_path: Path) -> None:
    file = tmp_path / "events.jsonl"
    lines = (DOCS / "examples.jsonl").read_text().splitlines()
    file.write_text("\n".join([*lines[:2], '{"event_type":"meeting.moved"}', *lines[2:]]) + "\n")

    # An unreachable broker: had it tried to publish, it would fail differently.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "events",
            "publish",
            str(file),
            "--bootstrap-servers",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert f"{file}:3: " in result.stderr and "meeting.moved" in result.stderr
    assert "1 invalid line(s): nothing published" in result.stderr
    assert "publish failed" not in result.stderr


@pytest.mark.parametrize("command", ["schema", "asyncapi"])
def test_the_generators_write_files(command: str, tmp_path: Path) -> None:
    target = tmp_path / ("schemas" if command == "schema" else "asyncapi.json")
    subprocess.run(
        [sys.executable, "-m", "events", command, str(target)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert target.exists()
