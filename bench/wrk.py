"""``wrk`` (the Debian package) as a load generator, and its report parsed.

One thread and a fixed number of keep-alive connections on loopback: a closed
loop, so latency includes the queueing at the server. ``--latency`` prints the
percentiles; any non-2xx/3xx answer or socket error makes the run a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkFailed(Exception):
    """wrk did not run, or its report says some requests failed."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float  # how long the run took
    rate: float  # requests per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    report: str  # wrk's own output

    @property
    def ok(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


def find_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkFailed("wrk is not on the PATH: `apt-get install -y wrk` (as root)")
    return path


def parse(report: str) -> WrkResult:
    """The figures of a ``wrk --latency`` report."""
    percentiles = {
        int(p): float(value) * _UNITS_MS[unit] for p, value, unit in _PERCENTILE.findall(report)
    }
    rate, total = _RATE.search(report), _TOTAL.search(report)
    if rate is None or total is None or not {50, 90, 99} <= percentiles.keys():
        raise WrkFailed(f"cannot read wrk's report:\n{report}")
    non_2xx = _NON_2XX.search(report)
    errors = _SOCKET_ERRORS.search(report)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS_MS[total.group(3)] / 1000,
        rate=float(rate.group(1)),
        p50_ms=percentiles[50],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        report=report,
    )


def run_wrk(
    url: str,
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 5.0,
) -> WrkResult:
    """Load ``url`` for ``duration_s`` and return what wrk measured."""
    argv = [
        find_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise WrkFailed(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return parse(done.stdout)
