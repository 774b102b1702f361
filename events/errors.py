"""Exceptions of the ``events`` package (see the package docstring)."""


class EventError(Exception):
    """Base of every error this package raises."""


class InvalidEvent(EventError):
    """Bytes that cannot be used as an event.

    ``reason`` is for humans; ``kind`` is one of a few fixed labels, for
    counting: ``invalid_json``, ``unknown_event_type``, ``broken_rule``,
    ``no_value``.
    """

    def __init__(self, reason: str, kind: str = "broken_rule") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class PublishError(EventError):
    """The broker did not confirm a publish."""
