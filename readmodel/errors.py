"""Exceptions of the API's adapters.

ApiError                  base
└── ReadModelUnavailable  Redis cannot answer, or holds no read model yet
"""


class ApiError(Exception):
    """Base of the API's own errors."""


class ReadModelUnavailable(ApiError):
    """The read model cannot answer now; the client should retry later."""
