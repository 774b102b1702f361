"""events.schema: the JSON Schemas publishers in other languages validate against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from events.schema import event_schemas, write_schemas
from tests.builders import BUILDERS, canceled, leader, scheduled, token_issued


def validator(event_type: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = event_schemas()[event_type]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_one_schema_per_event_type() -> None:
    schemas = event_schemas()

    assert len(schemas) == 10
    assert set(schemas) == set(BUILDERS)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_schema_names_its_type_and_dialect(event_type: str) -> None:
    schema = event_schemas()[event_type]

    assert schema["title"] == event_type
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"event_type", "event_id", "occurred_at", "data"} <= set(schema["required"])


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_the_example_event_validates(event_type: str) -> None:
    validator(event_type).validate(BUILDERS[event_type]())


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_another_event_type_does_not_validate(event_type: str) -> None:
    event = {**BUILDERS[event_type](), "event_type": "meeting.rescheduled"}

    assert not validator(event_type).is_valid(event)


@pytest.mark.parametrize(
    ("event_type", "event"),
    [
        ("meeting.scheduled", scheduled(location="teams")),
        ("meeting.scheduled", scheduled(meeting_id=0)),
        ("meeting.scheduled", scheduled(meeting_id="5")),
        ("meeting.scheduled", scheduled(max_attendees=-1)),
        ("meeting.scheduled", scheduled(name="")),
        ("meeting.scheduled", scheduled(group_leader=leader(id=0))),
        ("meeting.scheduled", scheduled(co_leader_ids=["1"])),
        ("meeting.canceled", canceled(version=0)),
        ("api_token.issued", token_issued(token_sha256="A" * 64)),
    ],
    ids=[
        "location",
        "id-0",
        "id-string",
        "max_attendees",
        "name",
        "leader-id",
        "co-leader",
        "version",
        "hash",
    ],
)
def test_an_invalid_event_fails(event_type: str, event: dict[str, Any]) -> None:
    assert not validator(event_type).is_valid(event)


def test_a_missing_required_field_fails() -> None:
    event = scheduled()
    del event["data"]["group_leader"]

    assert not validator("meeting.scheduled").is_valid(event)


def test_write_schemas_writes_one_file_per_type(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "schemas")

    assert sorted(path.name for path in written) == sorted(
        f"{event_type}.schema.json" for event_type in BUILDERS
    )
    assert (
        json.loads((tmp_path / "schemas" / "meeting.scheduled.schema.json").read_text())
        == (event_schemas()["meeting.scheduled"])
    )
