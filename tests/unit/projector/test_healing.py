"""Which offsets a batch covers (``Cursor``), and when a heal is still under way (``Heal``)."""

from __future__ import annotations

import time

import pytest

from projector.kafka.records import Record
from projector.worker import healing
from projector.worker.healing import Cursor, Heal
from readmodel.positions import Run

T = "meeting-events"


def records(*offsets: int, partition: int = 0) -> list[Record]:
    return [Record(T, partition, offset, None, b"{}") for offset in offsets]


def test_records_one_after_another_cover_what_the_log_skipped_between() -> None:
    cursor = Cursor()
    assert cursor.runs(records(10, 11, 14)) == [Run(T, 0, 10, 15)]  # 12, 13: markers
    assert cursor.runs(records(17, 18)) == [Run(T, 0, 15, 19)]  # from where the last ended


def test_partitions_are_counted_apart() -> None:
    batch = records(3, 4) + records(7, partition=1) + records(5)
    assert Cursor().runs(batch) == [Run(T, 0, 3, 6), Run(T, 1, 7, 8)]


def test_after_a_seek_back_records_fetched_before_it_cover_only_themselves() -> None:
    cursor = Cursor()
    cursor.runs(records(100, 101, 102))
    cursor.sought((T, 0), 40)
    # Still handed over after the seek: fetched before it.
    assert cursor.runs(records(103, 104)) == [Run(T, 0, 103, 105)]
    # The records read again, from where it went back (41 first: 40 was a marker).
    assert cursor.runs(records(41, 42)) == [Run(T, 0, 40, 43)]
    assert cursor.runs(records(43)) == [Run(T, 0, 43, 44)]


def test_going_back_without_a_seek_starts_a_new_run() -> None:
    cursor = Cursor()
    cursor.runs(records(50, 51))
    assert cursor.runs(records(20, 21)) == [Run(T, 0, 20, 22)]  # the group sought it back


def test_a_revoked_partition_is_forgotten() -> None:
    cursor = Cursor()
    cursor.runs(records(5, 6))
    cursor.revoked([(T, 0)])
    assert cursor.runs(records(9)) == [Run(T, 0, 9, 10)]


def test_a_heal_explains_progress_and_a_short_wait_but_not_a_new_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heal = Heal(target=100, until=200, last=100, at=time.monotonic())
    assert heal.explains(100)  # just sought back
    assert heal.explains(130)  # moving
    assert not heal.explains(90)  # lost again, below where it went back to
    monkeypatch.setattr(healing, "RESEEK_AFTER_S", 0.0)
    assert not heal.explains(130)  # stopped moving: seek again
