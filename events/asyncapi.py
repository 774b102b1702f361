"""An AsyncAPI 3.0 document of the contract: the four topics, their events, keys.

Message payloads refer to the JSON Schemas of ``events.schema``, written next
to the document (``schemas/<event_type>.schema.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from events.models import EVENT_TYPES
from events.topics import Topics

_KEYS = {
    "organization-events": "the decimal organization_id of data",
    "default": "the decimal meeting_id of data",
}
_TOPIC_DESCRIPTIONS = {
    "meeting-events": "A meeting's full snapshots and its completion.",
    "registration-events": "Members registering for a meeting, and canceling.",
    "cancellation-events": "Meetings canceled.",
    "organization-events": "EAP links between organizations, and API tokens.",
}


def _event_type(model: type[Any]) -> str:
    return str(model.model_fields["event_type"].default)


def asyncapi_document() -> dict[str, Any]:
    topics = Topics()
    by_topic: dict[str, list[str]] = {name: [] for name in topics.names()}
    for model in EVENT_TYPES:
        # An unvalidated instance is enough: the topic depends on the type alone.
        example = cast(Any, model).model_construct(event_type=_event_type(model))
        by_topic[topics.for_event(example)].append(_event_type(model))

    channels, operations, messages = {}, {}, {}
    for topic, event_types in by_topic.items():
        key = _KEYS.get(topic, _KEYS["default"])
        channels[topic] = {
            "address": topic,
            "description": _TOPIC_DESCRIPTIONS[topic]
            + f" Records that the projector cannot use go to {topic}.dlq.",
            "messages": {
                event_type: {"$ref": f"#/components/messages/{event_type}"}
                for event_type in event_types
            },
        }
        operations[f"publish-{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"Upstream services publish to {topic}, keyed by {key}.",
        }
        for event_type in event_types:
            messages[event_type] = {
                "name": event_type,
                "contentType": "application/json",
                "payload": {"$ref": f"./schemas/{event_type}.schema.json"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "pattern": "^[1-9][0-9]*$", "description": key},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Upcoming meetings events",
            "version": "1.0.0",
            "description": (
                "Version 1 of the event contract between upstream services and the "
                "upcoming-meetings projector. Values are UTF-8 JSON objects; headers are "
                "never needed. See README.md, 'For upstream teams'."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write_asyncapi(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asyncapi_document(), indent=2) + "\n")
    return path
