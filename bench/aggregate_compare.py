"""The flask-restless article's fan-out comparison at scale, side by side, on local fake upstreams.

One command, from the project root::

    .venv/bin/python bench/aggregate_compare.py [--repeat 5] [--delay-ms 200]
        [--counts 10,50,100,500] [--layouts paths,hosts] [--baseline DIR]

It starts fake upstreams answering after ``--delay-ms`` (``aggregate_servers.py``):
N ports of their own (layout ``hosts``) and one port answering N paths
(layout ``paths``).  Then, for each layout and each number of upstreams, it
starts every approach in a process of its own, configured with those
upstreams:

* gevent + requests (the article's version), in ``bench/.peers``;
* asyncio + aiohttp (connector limit lifted), in ``bench/.peers``;
* a direct concurrent treq fan-out (``gatherResults``), with the project's Python;
* ``GET /aggregate`` end to end: the real endpoint in its own process
  (``aggregate_servers.py service``), called from this process;
* with ``--baseline DIR``, the same endpoint from another checkout of
  ``chinook_svc`` (e.g. ``git archive`` of an older commit), for before/after
  figures in one run.

and times ``--repeat`` rounds of each (after one warm-up round each),
interleaved and rotated so that a busy moment of the machine hits every
approach alike.  Meanwhile a thread samples each approach's process every
10 ms: resident memory (``VmRSS``) and open file descriptors.  It prints
Markdown tables: median and minimum wall times; the overhead of
``/aggregate`` over the direct treq fan-out and over aiohttp (medians of the
per-round differences) against the targets; peak memory and descriptors;
the CPU time each process used per upstream call (``/aggregate``: the
service's, its own client's work included); and the cost per upstream (the
slope of the peaks from the fewest to the most upstreams).

The peers' virtualenv (gitignored) is created on first use with ``pip
install gevent requests aiohttp``; ``--no-peers`` skips them.  Figures, not a
test: nothing here fails on a slow machine, it only reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import ensureDeferred
from twisted.web.client import Agent, HTTPConnectionPool

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
PEER_PACKAGES = ["gevent", "requests", "aiohttp"]
GEVENT = "gevent + requests (the article's)"
AIOHTTP = "asyncio + aiohttp"
DIRECT = "concurrent treq, direct"
AGGREGATE = "GET /aggregate, end to end"
BASELINE = "GET /aggregate, baseline"
#: Targets of the issue: over the direct treq fan-out (and aiohttp), by number of upstreams.
TARGET_MS = {10: 15.0, 50: 15.0, 100: 15.0, 500: 40.0}

Round = Callable[[], Awaitable[float]]


def peers_python() -> Path:
    """The peers' interpreter, creating their virtualenv if needed."""
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    probe = subprocess.run([python, "-c", "import gevent, requests, aiohttp"], check=False)
    if probe.returncode != 0:
        pip = [python, "-m", "pip", "install", "--quiet", *PEER_PACKAGES]
        subprocess.run(pip, check=True)
    return python


def start(*args: str, pythonpath: str | None = None) -> tuple[subprocess.Popen[str], Any]:
    """Start ``aggregate_servers.py args`` and read where it listens."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, str(BENCH / "aggregate_servers.py"), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit(f"could not start {args[0]}")
    return process, json.loads(line)


class Peer:
    """A fan-out in its own process (``aggregate_peers.py``), one round per request."""

    def __init__(self, python: Path | str, kind: str, urls: list[str]) -> None:
        command = [str(python), str(BENCH / "aggregate_peers.py"), kind, *urls]
        self.kind = kind
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    async def round(self) -> float:
        """Run one round and return its seconds, as the peer measured them.

        This blocks the driver's reactor while the peer runs, which is fine:
        nothing else is measured meanwhile.
        """
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} peer failed")
        return float(line)

    def close(self) -> None:
        """Let the peer finish."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid``'s threads have run, to the nanosecond (``schedstat``)."""
    total = 0
    for thread in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((thread / "schedstat").read_text().split()[0])
        except (OSError, ValueError):  # a thread that just ended
            continue
    return total / 1e9


class Sampler(threading.Thread):
    """Samples processes' resident memory and open descriptors every 10 ms; keeps the peaks.

    Also takes each process's CPU time when it starts and stops (``cpu``).
    """

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peaks: dict[str, list[int]] = {name: [0, 0] for name in pids}  # [rss KiB, fds]
        self.cpu: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        self.cpu = {name: -cpu_seconds(pid) for name, pid in self.pids.items()}
        while not self._halt.wait(0.01):
            for name, pid in self.pids.items():
                try:
                    fds = len(os.listdir(f"/proc/{pid}/fd"))
                    rss = rss_kib(pid)
                except OSError:
                    continue
                peak = self.peaks[name]
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], fds)

    def stop(self) -> dict[str, list[int]]:
        """Stop sampling; the peaks, each followed by the CPU microseconds used meanwhile."""
        for name, pid in self.pids.items():
            self.cpu[name] += cpu_seconds(pid)
        self._halt.set()
        self.join()
        return {name: [*peak, round(self.cpu[name] * 1e6)] for name, peak in self.peaks.items()}


def rss_kib(pid: int) -> int:
    """The resident memory of ``pid``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def aggregate_round(http: HTTPClient, url: str, complete: list[bool]) -> Round:
    """One timed ``GET /aggregate``, noting whether every source answered."""

    async def round_() -> float:
        started = time.perf_counter()
        response = await http.get(url)
        body = await response.json()
        wall = time.perf_counter() - started
        complete.append(response.code == 200 and body["complete"])
        return wall

    return round_


#: (layout, count) -> approach -> per-round seconds; and peaks [RSS KiB, fds].
Times = dict[tuple[str, int], dict[str, list[float]]]
Peaks = dict[tuple[str, int], dict[str, list[int]]]


async def scenario(
    reactor: Any, options: argparse.Namespace, python: Path | None, urls: list[str]
) -> tuple[dict[str, list[float]], dict[str, list[int]], dict[str, bool]]:
    """Time and sample every approach over ``urls``."""
    specs = [f"s{i}={url}" for i, url in enumerate(urls)]
    services = {AGGREGATE: start("service", *specs)}
    if options.baseline:
        services[BASELINE] = start("service", *specs, pythonpath=options.baseline)
    peers: dict[str, Peer] = {}
    if python is not None:
        peers[GEVENT] = Peer(python, "gevent", urls)
        peers[AIOHTTP] = Peer(python, "aiohttp", urls)
    peers[DIRECT] = Peer(sys.executable, "treq", urls)
    pool = HTTPConnectionPool(reactor, persistent=True)
    http = HTTPClient(Agent(reactor, pool=pool))
    approaches: dict[str, Round] = {name: peer.round for name, peer in peers.items()}
    complete: dict[str, list[bool]] = {}
    for name, (_, info) in services.items():
        approaches[name] = aggregate_round(http, info["url"], complete.setdefault(name, []))
    pids = {name: peer.process.pid for name, peer in peers.items()}
    pids.update({name: info["pid"] for name, (_, info) in services.items()})
    sampler = Sampler(pids)
    times: dict[str, list[float]] = {name: [] for name in approaches}
    try:
        names = list(approaches)
        for name in names:  # warm-up: connections, imports, caches
            await approaches[name]()
        sampler.start()
        for number in range(options.repeat):
            turn = number % len(names)  # rotate, so no approach always runs first
            for name in names[turn:] + names[:turn]:
                times[name].append(await approaches[name]())
        peaks = sampler.stop()
    finally:
        for process, _ in services.values():
            process.terminate()
            process.wait(timeout=10)
        for peer in peers.values():
            peer.close()
        if sampler.is_alive():
            sampler.stop()
        await pool.closeCachedConnections()
    return times, peaks, {name: all(flags) for name, flags in complete.items()}


async def run(reactor: Any, options: argparse.Namespace) -> None:
    """Start the upstreams, run every scenario, print the tables."""
    counts = [int(c) for c in options.counts.split(",")]
    layouts = options.layouts.split(",")
    python = None if options.no_peers else peers_python()
    upstreams, info = start("upstreams", str(max(counts)), str(options.delay_ms))
    times: Times = {}
    peaks: Peaks = {}
    complete: dict[tuple[str, int], dict[str, bool]] = {}
    try:
        for layout in layouts:
            for n in counts:
                key = (layout, n)
                print(f"{layout}: {n} upstreams ...", file=sys.stderr, flush=True)
                times[key], peaks[key], complete[key] = await scenario(
                    reactor, options, python, info[layout][:n]
                )
    finally:
        upstreams.terminate()
        upstreams.wait(timeout=10)
    report(times, peaks, complete, counts, layouts, options)


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000.0


def paired(times: dict[str, list[float]], a: str, b: str) -> float | None:
    """The median of ``a - b`` over rounds, in ms (``None`` if either is missing)."""
    if a not in times or b not in times:
        return None
    return ms(statistics.median(x - y for x, y in zip(times[a], times[b], strict=True)))


def table(columns: list[str], rows: dict[str, list[str]]) -> None:
    """Print a Markdown table: a header of ``columns`` after "approach", one row per entry."""
    print("| approach | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def wall_cell(times: list[float], complete: bool) -> str:
    """``median (min)`` in ms, marked when a round was not complete."""
    mark = "" if complete else " (incomplete)"
    return f"{ms(statistics.median(times)):.1f} ({ms(min(times)):.1f}){mark}"


def report(
    times: Times,
    peaks: Peaks,
    complete: dict[tuple[str, int], dict[str, bool]],
    counts: list[int],
    layouts: list[str],
    options: Any,
) -> None:
    """Print the tables."""
    print(
        f"\n{options.repeat} rounds after a warm-up, upstreams answering after "
        f"{options.delay_ms:g} ms; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    names = list(times[(layouts[0], counts[0])])
    columns = [f"{n} upstreams" for n in counts]
    for layout in layouts:
        where = "paths on one host" if layout == "paths" else "hosts (ports of their own)"
        print(f"### Wall time, upstreams as {where}: median (min) ms\n")
        walls = {
            name: [
                wall_cell(times[(layout, n)][name], complete[(layout, n)].get(name, True))
                for n in counts
            ]
            for name in names
        }
        table(columns, walls)
        for n in counts:
            over_direct = paired(times[(layout, n)], AGGREGATE, DIRECT)
            over_aiohttp = paired(times[(layout, n)], AGGREGATE, AIOHTTP)
            line = f"- {n} upstreams: /aggregate {over_direct:+.1f} ms over direct treq"
            if over_aiohttp is not None:
                line += f", {over_aiohttp:+.1f} ms over aiohttp"
            print(line + f" (medians of paired rounds; target <= +{TARGET_MS.get(n, 40.0):g})")
        print(f"\n### Peak memory and descriptors, upstreams as {where}: RSS MiB / open fds\n")
        usage = {
            name: [
                f"{peak[0] / 1024:.1f} / {peak[1]}"
                for peak in (peaks[(layout, n)][name] for n in counts)
            ]
            for name in names
        }
        table(columns, usage)
        print(f"### CPU time per upstream call, upstreams as {where}: ms\n")
        cpu = {
            name: [
                f"{peaks[(layout, n)][name][2] / 1000 / (options.repeat * n):.3f}" for n in counts
            ]
            for name in names
        }
        table(columns, cpu)
    low, high = min(counts), max(counts)
    if low == high:
        return
    print(f"### Cost per upstream (slope of the peaks from {low} to {high} upstreams)\n")
    slopes = {}
    for name in names:
        cells = []
        for layout in layouts:
            a, b = peaks[(layout, low)][name], peaks[(layout, high)][name]
            cells.append(f"{(b[0] - a[0]) / (high - low):.1f}, {(b[1] - a[1]) / (high - low):.2f}")
        slopes[name] = cells
    table([f"{layout}: KiB, fds" for layout in layouts], slopes)


def main() -> None:
    """Parse the options and run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per approach")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="upstream latency")
    parser.add_argument("--counts", default="10,50,100,500", help="numbers of upstreams")
    parser.add_argument("--layouts", default="paths,hosts", help="paths and/or hosts")
    parser.add_argument("--no-peers", action="store_true", help="skip gevent and aiohttp")
    parser.add_argument("--baseline", help="PYTHONPATH of another chinook_svc to compare")
    options = parser.parse_args()
    task.react(lambda reactor: ensureDeferred(run(reactor, options)))


if __name__ == "__main__":
    main()
