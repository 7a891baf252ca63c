"""Running ``wrk`` and parsing what it prints."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failures."""

    requests_per_second: float
    requests: int
    p50_ms: float | None
    p99_ms: float | None
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_2xx: int = 0

    @property
    def errors(self) -> int:
        """Socket errors (connect, read, write) plus non-2xx/3xx answers; timeouts apart."""
        return self.connect_errors + self.read_errors + self.write_errors + self.non_2xx

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict, with the derived ``errors``."""
        return {**asdict(self), "errors": self.errors}


class WrkError(RuntimeError):
    """wrk failed or printed something we cannot read."""


def duration_ms(value: str, unit: str) -> float:
    """A wrk duration (``"4.90"``, ``"ms"``) in milliseconds."""
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Parse the output of ``wrk --latency``.

    Raises:
        WrkError: there is no ``Requests/sec`` line.
    """
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if rps is None:
        raise WrkError(f"no Requests/sec in wrk output:\n{text}")
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    percentiles: dict[str, float] = {}
    for match in re.finditer(rf"^\s+(50|75|90|99)(?:\.0+)?%\s+{_DURATION}", text, re.M):
        percentiles[match.group(1)] = duration_ms(match.group(2), match.group(3))
    counts: dict[str, int] = {}
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        keys = ("connect_errors", "read_errors", "write_errors", "timeouts")
        counts = {k: int(v) for k, v in zip(keys, socket.groups(), strict=True)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)) if total else 0,
        p50_ms=percentiles.get("50"),
        p99_ms=percentiles.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        **counts,
    )


def wrk_command(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int = 1,
    headers: Sequence[str] = (),
    timeout: float = 2.0,
    wrk: str = "wrk",
) -> list[str]:
    """The ``wrk`` command line for one measurement."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout:g}s",
        "--latency",
    ]
    for header in headers:
        command += ["-H", header]
    return [*command, url]


def run_wrk(url: str, **options: Any) -> WrkResult:
    """Run wrk against ``url`` (127.0.0.1 only) and parse its output."""
    if not url.startswith("http://127.0.0.1:"):
        raise WrkError(f"refusing to load anything but 127.0.0.1: {url}")
    command = wrk_command(url, **options)
    limit = float(options.get("duration", 10)) + 60
    done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse_wrk(done.stdout)
