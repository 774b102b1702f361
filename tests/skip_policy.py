"""In CI a skip is a failure, unless the test says why it may skip there.

When the ``CI`` environment variable is true (``true``, ``1`` or ``yes``, as CI
services set it), every skipped test, and every module whose collection skips
(``pytest.importorskip`` at module level), fails the run instead: a machine
without redis-server, tansu, stunnel, promtool or chromium must not pass by
running nothing. A test that may legitimately skip in CI says why with
``@pytest.mark.may_skip_in_ci("why")``; its skips stay skips. Outside CI every
skip stays a skip, so a developer's machine need not have every binary.

Expected failures (``xfail``) are not skips and are left alone. Registered by
tests/conftest.py; tests/unit/test_skip_policy.py tests it.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

MARKER = "may_skip_in_ci"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(reason): the test may skip when CI is set, for the reason given; "
        "any other skip fails in CI",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers(MARKER):
            if _reason_of(mark) is None:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.{MARKER} needs the reason as one "
                    f'non-empty string, e.g. @pytest.mark.{MARKER}("why it may skip in CI")'
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        mark = item.get_closest_marker(MARKER)
        if mark is None:
            _fail(report, f"add @pytest.mark.{MARKER}('why') if it may skip there")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and in_ci():
        _fail(report, "a module that skips as a whole is never allowed to in CI")
    return report


def _fail(report: pytest.TestReport | pytest.CollectReport, advice: str) -> None:
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which counts as a failure ({advice}): {_skip_reason(report)}"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _reason_of(mark: pytest.Mark) -> str | None:
    if len(mark.args) + len(mark.kwargs) != 1:
        return None
    reason = mark.args[0] if mark.args else mark.kwargs.get("reason")
    if isinstance(reason, str) and reason.strip():
        return reason
    return None
