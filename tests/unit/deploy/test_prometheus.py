"""The alert rules load and do what their tests say (``promtool``, Debian package
``prometheus``), and the PromQL name extraction the metrics-exist test relies on."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.promql import ALERTS, metric_names, names_used, rule_expressions


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install the Debian package prometheus")
    return subprocess.run(
        [path, *args], cwd=ALERTS.parent, capture_output=True, text=True, timeout=120
    )


def test_the_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_series_and_not_on_the_others() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_runbook_and_a_test_that_fires_it() -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    tests = yaml.safe_load((ALERTS.parent / "alerts.test.yml").read_text())["tests"]
    fired = {
        check["alertname"]
        for test in tests
        for check in test["alert_rule_test"]
        if check.get("exp_alerts")
    }
    quiet = {
        check["alertname"]
        for test in tests
        for check in test["alert_rule_test"]
        if not check.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alerts}
    assert fired == names
    assert quiet == names
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://docs.upcoming-meetings.example/operating/#"), url


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum by (route) (rate(api_requests_total{status=~"5.."}[5m]))', {"api_requests_total"}),
        (
            "histogram_quantile(0.99, sum by (le) (rate(a_bucket[$__rate_interval]))) > 0.1",
            {"a_bucket"},
        ),
        ("x:ratio:rate5m > (14.4 * 0.001) and on() max(b) == 1 offset 5m", {"x:ratio:rate5m", "b"}),
        ('absent(c) or (time() - max(d{node="x"})) > 60', {"c", "d"}),
        ("max(e > 0) / ignoring(node) group_left f", {"e", "f"}),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_rules_and_the_dashboard_name_metrics_of_both_services() -> None:
    expressions = rule_expressions()
    assert expressions
    used = names_used()
    assert {"api_requests_total", "projector_event_age_seconds_bucket"} <= used
    assert not any(":" in name for name in used)  # the rules' own records are left out


def test_every_runbook_url_names_a_section_of_the_operating_page() -> None:
    page = (ALERTS.parents[2] / "docs" / "operating.md").read_text()
    sections = set(re.findall(r"\{#([a-z0-9-]+)\}", page))
    rules = yaml.safe_load(ALERTS.read_text())
    anchors = {
        rule["annotations"]["runbook_url"].rpartition("#")[2]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert anchors <= sections
