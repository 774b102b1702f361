"""Errors raised by devstack.

- ``DevstackError``: the base of them all.
  - ``BinaryNotFoundError``: a server's executable could not be found.
  - ``ServiceStartError``: a server did not come up (it exited, or did not answer in time).
  - ``ChildExitedError``: a process devstack started exited on its own.
"""


class DevstackError(Exception):
    """Base class of every error devstack raises."""


class BinaryNotFoundError(DevstackError):
    """A server's executable could not be found."""


class ServiceStartError(DevstackError):
    """A server exited during start-up or did not answer before the deadline."""


class ChildExitedError(DevstackError):
    """A process devstack started and watches exited on its own."""
