"""A meeting's document as the API returns it, for tests: the projector's two
parts (``projector.projection.render.render_parts``) around the count."""

from __future__ import annotations

from events.models import MeetingSnapshot
from projector.projection.render import render_parts
from readmodel.documents import expand


def render_meeting(meeting: MeetingSnapshot, registered_attendees: int) -> bytes:
    """The document as JSON."""
    head, tail = render_parts(meeting)
    return expand(head + str(registered_attendees).encode() + tail)
