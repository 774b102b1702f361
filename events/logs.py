"""One logging setup for every process: ``LOG_FORMAT=text`` (the default) or ``json``.

Each entry point (``python -m projector`` and its commands, ``python -m api``,
``python -m events publish``, ``python -m devstack``) calls
``configure_logging`` once, before anything logs. ``json`` writes one object
per line to stderr::

    {"time": "2026-01-05T09:30:00.123Z", "level": "WARNING",
     "logger": "projector.worker.pipeline", "message": "dead-lettering ...",
     "topic": "meetings", "partition": 2, "offset": 1041}

Whatever a call passes in ``extra=`` becomes a field of its own: the Kafka
coordinates (``topic``, ``partition``, ``offset``) where an event is handled,
the request fields (``method``, ``path``, ``status``, ``duration_ms``) where an
HTTP request is. ``kafka_fields`` and ``request_fields`` build them.

Secrets never reach the output, in either format: a bearer token and the
password of a URL (``redis://:secret@host``) are replaced by ``[redacted]`` in
the message, the traceback and every text field.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

LOG_FORMAT = "LOG_FORMAT"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"

_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s'\",;]+"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@'\"]*:)[^\s/@'\"]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)\b(password|passwd|token|secret)=[^\s&'\",;]+"), r"\1=" + REDACTED),
)

# The attributes every LogRecord has: anything else came in ``extra=``, but
# uvicorn's ``color_message`` (the message again, with terminal colours).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class LogFormatError(ValueError):
    """``LOG_FORMAT`` names no known format."""


def redact(text: str) -> str:
    """``text`` with bearer tokens and URL passwords replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def kafka_fields(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """``extra=`` for a log line about one Kafka record."""
    return {"topic": topic, "partition": partition, "offset": offset}


def request_fields(method: str, path: str, status: int, seconds: float) -> dict[str, Any]:
    """``extra=`` for a log line about one HTTP request (the path without its query)."""
    return {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }


class RedactingFormatter(logging.Formatter):
    """The text format, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                document[name] = _clean(value)
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            document["exception"] = redact(record.exc_text)
        if record.stack_info:
            document["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(document, default=lambda value: redact(str(value)))


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """``LOG_FORMAT``, checked; ``LogFormatError`` names the setting when it is wrong."""
    value = (os.environ if environ is None else environ).get(LOG_FORMAT, "text").strip().lower()
    if value not in FORMATS:
        raise LogFormatError(f"{LOG_FORMAT} must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def configure_logging(
    text_format: str = TEXT_FORMAT,
    level: int = logging.INFO,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Send every logger's records (Faust's and uvicorn's included) to one handler.

    Replaces the root logger's handlers; ``LogFormatError`` if ``LOG_FORMAT``
    is wrong (before anything is changed).
    """
    chosen = log_format(environ)
    handler = logging.StreamHandler(stream or sys.stderr)
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter(text_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def ensure_logging(text_format: str = TEXT_FORMAT) -> None:
    """``configure_logging`` in a process where nothing has configured logging yet
    (a worker process ``python -m api`` spawned; not a test run, not an embedder)."""
    if not logging.getLogger().handlers:
        configure_logging(text_format)


def _utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))
