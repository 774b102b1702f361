"""``events.retry``: the one retry loop of both services."""

from __future__ import annotations

import asyncio
import logging

import pytest

from events.retry import retry


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then answers ``"done"``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("refused")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays slept between attempts (not slept)."""
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("events.retry.asyncio.sleep", sleep)
    return slept


async def test_without_a_timeout_it_retries_until_it_succeeds(delays: list[float]) -> None:
    operation = Flaky(failures=7)

    assert await retry(operation, "calling", first_delay_s=0.1, max_delay_s=1.0) == "done"

    assert operation.calls == 8
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


async def test_a_success_at_once_does_not_wait(delays: list[float]) -> None:
    assert await retry(Flaky(failures=0), "calling") == "done"
    assert delays == []


async def test_an_error_it_is_not_told_to_retry_ends_it_at_once(delays: list[float]) -> None:
    operation = Flaky(failures=3, error=ValueError("bad url"))

    with pytest.raises(ValueError, match="bad url"):
        await retry(operation, "calling", errors=(ConnectionError,))

    assert operation.calls == 1
    assert delays == []


async def test_with_a_timeout_the_failure_at_the_deadline_is_raised() -> None:
    operation = Flaky(failures=1_000_000)
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(ConnectionError, match="refused"):
        await retry(operation, "calling", timeout_s=0.3, first_delay_s=0.01, max_delay_s=0.05)

    elapsed = loop.time() - started
    assert 0.3 <= elapsed < 2.0
    assert 6 <= operation.calls < 30  # 0.01, 0.02, 0.04, then every 0.05 s, the last at 0.3 s


async def test_with_a_timeout_it_still_returns_what_succeeds_in_time() -> None:
    operation = Flaky(failures=2)

    assert await retry(operation, "calling", timeout_s=60, first_delay_s=0.01) == "done"
    assert operation.calls == 3


async def test_a_timeout_of_zero_makes_one_attempt(delays: list[float]) -> None:
    operation = Flaky(failures=1)

    with pytest.raises(ConnectionError):
        await retry(operation, "calling", timeout_s=0)

    assert operation.calls == 1
    assert delays == []


async def test_cancellation_stops_it() -> None:
    second_attempt = asyncio.Event()
    attempts = 0

    async def operation() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            second_attempt.set()
        raise ConnectionError("refused")

    retrying = asyncio.ensure_future(retry(operation, "calling", first_delay_s=0.01))
    await second_attempt.wait()

    retrying.cancel()

    with pytest.raises(asyncio.CancelledError):
        await retrying
    assert attempts == 2


async def test_each_failure_is_logged_with_what_failed(
    delays: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="events.retry"):
        await retry(Flaky(failures=2), "applying 3 changes", first_delay_s=0.5)

    assert [record.getMessage() for record in caplog.records] == [
        "applying 3 changes failed (attempt 1), retrying in 0.50s: ConnectionError('refused')",
        "applying 3 changes failed (attempt 2), retrying in 1.00s: ConnectionError('refused')",
    ]
