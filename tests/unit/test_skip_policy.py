"""tests/skip_policy.py: in CI a skip fails unless the test says why it may skip."""

from __future__ import annotations

import pytest

PLUGIN = ("-p", "tests.skip_policy", "-p", "no:cacheprovider")

SKIPS = """
import pytest

@pytest.fixture
def server():
    pytest.skip("redis-server not found")

def test_skips_itself():
    pytest.skip("tansu not found")

@pytest.mark.skipif(True, reason="no stunnel")
def test_skipif():
    pass

@pytest.mark.skip(reason="not today")
def test_skip_marker():
    pass

def test_needs_a_server(server):
    pass

@pytest.mark.may_skip_in_ci("the point of this test is that it may")
def test_allowed():
    pytest.skip("promtool not found")

@pytest.mark.may_skip_in_ci(reason="given as a keyword")
@pytest.mark.skipif(True, reason="no chromium")
def test_allowed_skipif():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
"""


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs load no installed plugin (asyncio, hypothesis...), only the one tested."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")


def test_in_ci_every_skip_fails_unless_marked(pytester: pytest.Pytester, ci: None) -> None:
    pytester.makepyfile(SKIPS)

    result = pytester.runpytest(*PLUGIN, "-rA")

    result.assert_outcomes(passed=1, failed=1, errors=3, skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "*test_skips_itself*skipped in CI, which counts as a failure*tansu not found*",
            "*test_skipif*skipped in CI*no stunnel*",
            "*test_skip_marker*skipped in CI*not today*",
            "*test_needs_a_server*skipped in CI*redis-server not found*",
            "SKIPPED*promtool not found*",
            "SKIPPED*no chromium*",
        ]
    )
    result.stdout.fnmatch_lines(["*add @pytest.mark.may_skip_in_ci('why') if it may skip there*"])


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_skips_stay_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    pytester.makepyfile(SKIPS)

    result = pytester.runpytest(*PLUGIN)

    result.assert_outcomes(passed=1, skipped=6, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_in_ci_a_module_that_skips_fails(pytester: pytest.Pytester, ci: None) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytest.importorskip("no_such_module_here")

        def test_never_collected():
            pass
        """
    )

    result = pytester.runpytest(*PLUGIN)

    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*skipped in CI*no_such_module_here*"])


@pytest.mark.parametrize("arguments", ["", '""', '"  "', '"a", "b"'])
def test_the_marker_needs_one_reason(pytester: pytest.Pytester, ci: None, arguments: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.may_skip_in_ci({arguments})
        def test_marked():
            pytest.skip("why not")
        """
    )

    result = pytester.runpytest(*PLUGIN)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*may_skip_in_ci needs the reason as one non-empty string*"])


def test_in_ci_collecting_no_test_is_still_exit_5(pytester: pytest.Pytester, ci: None) -> None:
    """.ci/run fails on exit 5; the plugin must not turn it into something else."""
    pytester.makepyfile("X = 1")

    result = pytester.runpytest(*PLUGIN)

    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
