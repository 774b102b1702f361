"""Dead letters as operators see them: what one is, how it is judged, how it prints.

Pure functions; ``deadletter_cli`` reads and republishes them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from events.errors import InvalidEvent
from projector.kafka.records import Record
from projector.worker.pipeline import decode_record

KINDS = ("invalid_json", "unknown_event_type", "broken_rule", "no_value", "projection_error")
REASON_WIDTH = 100


class UsageError(Exception):
    """A command line that names something that cannot be (exit status 2)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record of a dead-letter topic; its ``dlq.*`` headers say where it came from and why."""

    record: Record  # as read from the dead-letter topic

    @property
    def id(self) -> str:
        record = self.record
        return f"{record.topic}:{record.partition}:{record.offset}"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.record.headers if key == name]
        return values[-1].decode(errors="replace") if values else None

    @property
    def reason(self) -> str:
        return self.header("dlq.reason") or ""

    @property
    def source_topic(self) -> str:
        return self.header("dlq.topic") or self.record.topic.removesuffix(".dlq")

    @property
    def source_partition(self) -> int | None:
        return _as_int(self.header("dlq.partition"))

    @property
    def source_offset(self) -> int | None:
        return _as_int(self.header("dlq.offset"))

    @property
    def source(self) -> str:
        partition, offset = self.source_partition, self.source_offset
        return f"{self.source_topic}[{'?' if partition is None else partition}]@" + (
            "?" if offset is None else str(offset)
        )

    def as_record(self) -> Record:
        """The source record, as the projector saw it."""
        return Record(
            self.source_topic,
            self.source_partition or 0,
            self.source_offset or 0,
            self.record.key,
            self.record.value,
            self.record.timestamp_ms,
        )


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a dead letter was rejected (``kind``) and what decoding it says today."""

    kind: str
    valid_now: bool
    reason_now: str | None = None  # why it still fails, if it does


def kind_of_reason(reason: str) -> str:
    """The kind of a rejection, from its reason text alone."""
    if reason.startswith("Invalid JSON"):
        return "invalid_json"
    if "does not match any of the expected tags" in reason or "Unable to extract tag" in reason:
        return "unknown_event_type"
    if reason == "the record has no value":
        return "no_value"
    if reason.startswith("cannot project"):
        return "projection_error"
    return "broken_rule"


def diagnose(letter: DeadLetter) -> Diagnosis:
    """Decode the dead letter again, as the pipeline would today."""
    try:
        decode_record(letter.as_record())
    except InvalidEvent as exc:
        return Diagnosis(exc.kind, valid_now=False, reason_now=exc.reason)
    except Exception as exc:  # a bug in projecting, as the pipeline treats it
        return Diagnosis("projection_error", valid_now=False, reason_now=f"cannot project: {exc!r}")
    return Diagnosis(kind_of_reason(letter.reason), valid_now=True)


def parse_id(text: str) -> tuple[TopicPartition, int]:
    """``<dlq topic>:<partition>:<offset>`` (topic names cannot hold ``:``)."""
    topic, _, rest = text.partition(":")
    partition, _, offset = rest.partition(":")
    if not (topic and partition.isdigit() and offset.isdigit()):
        raise UsageError(f"not a dead letter id (<dlq topic>:<partition>:<offset>): {text!r}")
    return TopicPartition(topic, int(partition)), int(offset)


def truncate(text: str, width: int = REASON_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_record_time(ms: int | None) -> str:
    """A Kafka record's timestamp for an operator, to the second; ``-`` when it has none."""
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def letter_json(letter: DeadLetter, diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "id": letter.id,
        "source_topic": letter.source_topic,
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "reason": letter.reason,
        "kind": diagnosis.kind,
        "valid_now": diagnosis.valid_now,
        "reason_now": diagnosis.reason_now,
        "dead_lettered_at": format_record_time(letter.record.timestamp_ms),
    }


def format_list(judged: Sequence[tuple[DeadLetter, Diagnosis]]) -> list[str]:
    """One aligned line per dead letter, then the counts per kind."""
    rows = [
        (
            letter.id,
            letter.source,
            diagnosis.kind + ("*" if diagnosis.valid_now else ""),
            truncate(" ".join(letter.reason.split())),
        )
        for letter, diagnosis in judged
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    lines = [
        f"{id_:<{widths[0]}}  {source:<{widths[1]}}  {kind:<{widths[2]}}  {reason}"
        for id_, source, kind, reason in rows
    ]
    if any(diagnosis.valid_now for _, diagnosis in judged):
        lines.append("* decodes today: `dlq replay ID` puts it back on its source topic")
    return lines


def format_summary(kinds: Counter[str], total: int, shown: int) -> list[str]:
    if not total:
        return ["no dead letters"]
    shown_text = f" (the newest {shown} listed)" if shown < total else ""
    lines = [f"{total} dead letter{'s' if total != 1 else ''}{shown_text}, by kind:"]
    width = max(len(kind) for kind in kinds)
    lines += [f"  {kind:<{width}}  {count}" for kind, count in kinds.most_common()]
    return lines


def format_value(value: bytes | None) -> str:
    if value is None:
        return "None (no value)"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:
        return repr(value)


def format_show(letter: DeadLetter, diagnosis: Diagnosis) -> list[str]:
    if diagnosis.valid_now:
        today = f"decodes today: `python -m projector dlq replay {letter.id}` would apply it"
    else:
        today = f"still invalid ({diagnosis.kind}): {diagnosis.reason_now}"
    return [
        f"id:        {letter.id}",
        f"source:    {letter.source}",
        f"at:        {format_record_time(letter.record.timestamp_ms)}",
        f"kind:      {diagnosis.kind}",
        f"reason:    {letter.reason}",
        f"today:     {today}",
        "headers:",
        *(f"  {name}: {value.decode(errors='replace')}" for name, value in letter.record.headers),
        f"key:       {letter.record.key!r}",
        "value:",
        *("  " + line for line in format_value(letter.record.value).splitlines()),
    ]


# The I/O part: reading and republishing.


def _as_int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
