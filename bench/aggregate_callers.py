"""Many callers at once: does one caller's never-answering upstream slow anybody else down?

One command, from the project root::

    .venv/bin/python bench/aggregate_callers.py [--rounds 20] [--callers 32] [--baseline DIR]

It starts fake upstreams answering after ``--delay-ms`` (``aggregate_servers.py``;
10 of them on ports of their own, and a ``/never`` path that never answers)
and the ``/aggregate`` endpoint over them, in processes of their own (with
``--baseline DIR``, a second endpoint from another checkout of
``chinook_svc``).  Each round, ``--callers`` requests of 10 sources start at
once: one of them asks for 9 healthy sources and the never-answering one,
the others for the 10 healthy sources.  A new round starts every
``--interval`` seconds, whether or not the never-answering call has ended
(it holds its slot for the 2 s call timeout, as a slow upstream would).

It prints, per endpoint, the healthy requests' wall times (p50, p99, max)
and the p99 over the slowest healthy upstream as the endpoint measured it
(target: +30 ms), and how the never-answering caller fared.  Figures, not a
test: nothing here fails on a slow machine, it only reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from aggregate_compare import start
from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults
from twisted.web.client import Agent, HTTPConnectionPool

TARGET_MS = 30.0
SOURCES = 10


def percentile(values: list[float], p: float) -> float:
    """The ``p`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def timed(http: HTTPClient, url: str) -> tuple[float, int, Any]:
    """GET ``url``: (seconds, status, decoded body)."""
    started = time.perf_counter()
    response = await http.get(url)
    body = await response.json()
    return time.perf_counter() - started, response.code, body


async def measure(
    reactor: Any, http: HTTPClient, url: str, options: argparse.Namespace
) -> dict[str, Any]:
    """Run the rounds against the endpoint at ``url``."""
    healthy = "&".join(f"source=s{i}" for i in range(SOURCES))
    with_never = "&".join([*(f"source=s{i}" for i in range(SOURCES - 1)), "source=never"])
    walls: list[float] = []
    slowest: list[float] = []
    codes: dict[int, int] = {}
    never: list[Deferred[Any]] = []
    for number in range(options.rounds + 1):
        round_started = time.perf_counter()
        never.append(ensureDeferred(timed(http, f"{url}?{with_never}")))
        answers = await gatherResults(
            [ensureDeferred(timed(http, f"{url}?{healthy}")) for _ in range(options.callers - 1)]
        )
        if number == 0:  # warm-up: connections on both sides
            continue
        for wall, code, body in answers:
            codes[code] = codes.get(code, 0) + 1
            walls.append(wall)
            if code == 200:
                slowest.append(max(r["elapsed_ms"] for r in body["results"].values()))
        left = options.interval - (time.perf_counter() - round_started)
        if left > 0:
            await task.deferLater(reactor, left)
    hung = [
        (wall, code, body.get("errors", {}).get("never", {}))
        for wall, code, body in await gatherResults(never)
    ]
    return {
        "walls": walls,
        "slowest": slowest,
        "codes": codes,
        "never": hung,
    }


async def run(reactor: Any, options: argparse.Namespace) -> None:
    """Start the servers, measure each endpoint in turn, print the figures."""
    upstreams, info = start("upstreams", str(SOURCES), str(options.delay_ms))
    specs = [f"s{i}={url}" for i, url in enumerate(info["hosts"])] + [f"never={info['never']}"]
    endpoints = {"GET /aggregate": start("service", *specs)}
    if options.baseline:
        endpoints["GET /aggregate, baseline"] = start(
            "service", *specs, pythonpath=options.baseline
        )
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 2 * options.callers
    http = HTTPClient(Agent(reactor, pool=pool))
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, (_, service) in endpoints.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = await measure(reactor, http, service["url"], options)
    finally:
        await pool.closeCachedConnections()
        for process, _ in [*endpoints.values(), (upstreams, None)]:
            process.terminate()
            process.wait(timeout=10)
    report(results, options)


def report(results: dict[str, dict[str, Any]], options: argparse.Namespace) -> None:
    """Print the table."""
    print(
        f"\n{options.rounds} rounds of {options.callers} concurrent requests of {SOURCES} "
        f"sources, one each round with a never-answering source, every {options.interval:g} s; "
        f"upstreams answering after {options.delay_ms:g} ms; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| endpoint | healthy requests | p50 ms | p99 ms | max ms | slowest healthy upstream, "
        "median ms | p99 over it | never-answering caller |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        walls = [w * 1000 for w in r["walls"]]
        slowest = statistics.median(r["slowest"]) if r["slowest"] else float("nan")
        p99 = percentile(walls, 99)
        statuses = ", ".join(f"{n} x {code}" for code, n in sorted(r["codes"].items()))
        hung = [w for w, _, _ in r["never"]]
        errors = sorted({e.get("error", "-") for _, _, e in r["never"]})
        print(
            f"| {name} | {statuses} | {percentile(walls, 50):.1f} | {p99:.1f} | {max(walls):.1f} "
            f"| {slowest:.1f} | {p99 - slowest:+.1f} (target <= +{TARGET_MS:g}) "
            f"| {statistics.median(hung) * 1000:.0f} ms median, {'/'.join(errors)} |"
        )


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds")
    parser.add_argument("--callers", type=int, default=32, help="concurrent requests per round")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="healthy upstream latency")
    parser.add_argument("--baseline", help="PYTHONPATH of another chinook_svc to compare")
    options = parser.parse_args()
    task.react(lambda reactor: ensureDeferred(run(reactor, options)))


if __name__ == "__main__":
    main()
