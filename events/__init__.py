"""The event contract (docs/events.md, version 1) in Python.

Upstream services publish these events; the projector consumes them. This
package imports nothing of the projector or the API.

Exceptions:

    EventError            base of everything raised here
    ├── InvalidEvent      bytes that are not a valid event; ``reason`` says why
    └── PublishError      the broker did not confirm a publish
"""

from events.errors import EventError, InvalidEvent, PublishError
from events.models import (
    ApiTokenIssued,
    ApiTokenRevoked,
    EapLinked,
    EapUnlinked,
    Event,
    MeetingCanceled,
    MeetingCompleted,
    MeetingScheduled,
    MeetingUpdated,
    RegistrationCanceled,
    RegistrationCreated,
    decode_event,
)
from events.topics import Topics, dlq_topic, event_key

__all__ = [
    "ApiTokenIssued",
    "ApiTokenRevoked",
    "EapLinked",
    "EapUnlinked",
    "Event",
    "EventError",
    "InvalidEvent",
    "MeetingCanceled",
    "MeetingCompleted",
    "MeetingScheduled",
    "MeetingUpdated",
    "PublishError",
    "RegistrationCanceled",
    "RegistrationCreated",
    "Topics",
    "decode_event",
    "dlq_topic",
    "event_key",
]
