"""JSON Schemas of the contract, one file per event type, for other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.models import EVENT_TYPES


def event_schemas() -> dict[str, dict[str, Any]]:
    """Each event type's JSON Schema (validation mode), by event type."""
    schemas = {}
    for model in EVENT_TYPES:
        event_type = model.model_fields["event_type"].default
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = event_type
        schema.setdefault("required", [])
        if "event_type" not in schema["required"]:
            schema["required"].insert(0, "event_type")
        schemas[event_type] = schema
    return schemas


def write_schemas(directory: Path) -> list[Path]:
    """Write ``<event_type>.schema.json`` files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, schema in sorted(event_schemas().items()):
        path = directory / f"{event_type}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=False) + "\n")
        written.append(path)
    return written
