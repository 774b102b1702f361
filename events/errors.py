"""Exceptions of the ``events`` package (see the package docstring)."""


class EventError(Exception):
    """Base of every error this package raises."""


class InvalidEvent(EventError):
    """Bytes that cannot be used as an event; ``reason`` is for humans."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PublishError(EventError):
    """The broker did not confirm a publish."""
