"""LOG_FORMAT: one JSON object per line, or the text format; secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from events.logs import (
    LogFormatError,
    configure_logging,
    kafka_fields,
    log_format,
    redact,
    request_fields,
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def logged(format_: str, emit: object) -> str:
    stream = io.StringIO()
    configure_logging(stream=stream, environ={"LOG_FORMAT": format_})
    assert callable(emit)
    emit()
    return stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_level_logger_message_and_the_extra_fields() -> None:
    log = logging.getLogger("projector.worker.pipeline")
    out = logged(
        "json",
        lambda: log.warning(
            "dead-lettering %s: %s", "m[2]@7", "bad", extra=kafka_fields("m", 2, 7)
        ),
    )
    (line,) = out.splitlines()
    document = json.loads(line)
    assert document["level"] == "WARNING"
    assert document["logger"] == "projector.worker.pipeline"
    assert document["message"] == "dead-lettering m[2]@7: bad"
    assert (document["topic"], document["partition"], document["offset"]) == ("m", 2, 7)
    assert document["time"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_a_request_and_an_exception_in_json() -> None:
    log = logging.getLogger("api.metrics")

    def emit() -> None:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed", extra=request_fields("GET", "/api/v2/x", 503, 0.0125))

    document = json.loads(logged("json", emit))
    assert {k: document[k] for k in ("method", "path", "status", "duration_ms")} == {
        "method": "GET",
        "path": "/api/v2/x",
        "status": 503,
        "duration_ms": 12.5,
    }
    assert "RuntimeError: boom" in document["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_stays_the_default_and_third_party_loggers_share_the_handler() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, environ={})
    logging.getLogger("faust.worker").info("starting")
    assert " INFO faust.worker: starting" in stream.getvalue()
    assert not stream.getvalue().startswith("{")


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Authorization: Bearer abc.DEF-123", "Bearer [redacted]", "abc.DEF-123"),
        (
            "Redis at redis://:hunter2@redis:6379/0 unreachable",
            "redis://:[redacted]@redis",
            "hunter2",
        ),
        ("rediss://user:p%40ss@h:6380", "rediss://user:[redacted]@h", "p%40ss"),
        ("GET /x?token=abc123&page=2", "token=[redacted]&page=2", "abc123"),
        ("redis://redis:6379/0 is fine", "redis://redis:6379/0 is fine", "[redacted]"),
    ],
)
def test_secrets_are_redacted(text: str, kept: str, gone: str) -> None:
    assert kept in redact(text)
    assert gone not in redact(text)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("format_", ["json", "text"])
def test_no_secret_reaches_the_output_in_either_format(format_: str) -> None:
    log = logging.getLogger("api")

    def emit() -> None:
        try:
            raise ConnectionError("redis://:hunter2@redis:6379 refused")
        except ConnectionError:
            log.exception(
                "header Bearer s3cret-token", extra={"url": "redis://:hunter2@redis:6379"}
            )

    out = logged(format_, emit)
    assert "hunter2" not in out and "s3cret-token" not in out
    assert "[redacted]" in out


def test_a_wrong_format_names_the_setting() -> None:
    with pytest.raises(LogFormatError, match="LOG_FORMAT must be one of text, json, not 'xml'"):
        log_format({"LOG_FORMAT": "xml"})
    assert log_format({"LOG_FORMAT": " JSON "}) == "json"
