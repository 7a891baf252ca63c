"""Many callers at once: does one caller's never-answering upstream slow anybody else down?

One command, from the project root::

    .venv/bin/python bench/aggregate_callers.py [--rounds 20] [--callers 32] [--baseline DIR]

It starts fake upstreams answering after ``--delay-ms`` (``aggregate_servers.py``;
10 of them on ports of their own, and a ``/never`` path that never answers)
and the ``/aggregate`` endpoint over them, in processes of their own (with
``--baseline DIR``, a second endpoint from another checkout of
``chinook_svc``).  Each round, ``--callers`` requests of 10 sources start at
once: 31 ask for the 10 healthy sources; the 32nd asks, in alternate rounds,
for 9 healthy sources and the never-answering one, or (the control) for the
10 healthy ones.  A new round starts every ``--interval`` seconds, whether or
not the never-answering call has ended (it holds its slot for the 2 s call
timeout, as a slow upstream would).

It prints, per endpoint and kind of round, the 31 healthy callers' wall times
(p50, p99, max) and the p99 over the slowest healthy upstream as the
endpoint measured it (target: +30 ms), and how the 32nd caller fared.  The
control shows what the same load costs without the never-answering source:
the difference between the two is what that source costs the others.  The
last column is the CPU time the endpoint's process used per round (both
kinds of round and the warm-up averaged).
Figures, not a test: nothing here fails on a slow machine, it only reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from aggregate_compare import cpu_seconds, start
from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import ensureDeferred, gatherResults
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


#: The two kinds of round: the 32nd caller asks for a never-answering source, or not.
HANGING = "one caller's source never answers"
CONTROL = "control: every source answers"


async def measure(
    reactor: Any, http: HTTPClient, url: str, options: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Run the rounds against the endpoint at ``url``, the two kinds alternating."""
    healthy = "&".join(f"source=s{i}" for i in range(SOURCES))
    with_never = "&".join([*(f"source=s{i}" for i in range(SOURCES - 1)), "source=never"])
    results: dict[str, dict[str, Any]] = {
        kind: {"walls": [], "slowest": [], "codes": {}, "last": []} for kind in (HANGING, CONTROL)
    }
    for number in range(2 * options.rounds + 2):
        kind = HANGING if number % 2 == 0 else CONTROL
        round_started = time.perf_counter()
        last = ensureDeferred(timed(http, f"{url}?{with_never if kind == HANGING else healthy}"))
        results[kind]["last"].append(last)
        answers = await gatherResults(
            [ensureDeferred(timed(http, f"{url}?{healthy}")) for _ in range(options.callers - 1)]
        )
        if number < 2:  # warm-up: connections on both sides
            continue
        for wall, code, body in answers:
            r = results[kind]
            r["codes"][code] = r["codes"].get(code, 0) + 1
            r["walls"].append(wall)
            if code == 200:
                r["slowest"].append(max(x["elapsed_ms"] for x in body["results"].values()))
        left = options.interval - (time.perf_counter() - round_started)
        if left > 0:
            await task.deferLater(reactor, left)
    for r in results.values():
        ended = await gatherResults(r.pop("last"))
        r["last"] = [(wall, body.get("errors", {}).get("never", {})) for wall, _, body in ended]
    return results


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
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for name, (_, service) in endpoints.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            used = -cpu_seconds(service["pid"])
            results[name] = await measure(reactor, http, service["url"], options)
            used += cpu_seconds(service["pid"])
            for kind in results[name].values():
                kind["cpu_ms"] = used * 1000 / (2 * options.rounds + 2)
    finally:
        await pool.closeCachedConnections()
        for process, _ in [*endpoints.values(), (upstreams, None)]:
            process.terminate()
            process.wait(timeout=10)
    report(results, options)


def report(results: dict[str, dict[str, dict[str, Any]]], options: argparse.Namespace) -> None:
    """Print the table."""
    print(
        f"\n{options.rounds} rounds of each kind, alternating, of {options.callers} concurrent "
        f"requests of {SOURCES} sources, every {options.interval:g} s; upstreams answering after "
        f"{options.delay_ms:g} ms; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.  "
        f"Figures over the {options.callers - 1} callers with healthy sources only.\n"
    )
    print(
        "| endpoint | rounds | answers | p50 ms | p99 ms | max ms | slowest healthy upstream, "
        "median ms | p99 over it | the 32nd caller | service CPU per round, ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, kinds in results.items():
        for kind, r in kinds.items():
            walls = [w * 1000 for w in r["walls"]]
            slowest = statistics.median(r["slowest"]) if r["slowest"] else float("nan")
            p99 = percentile(walls, 99)
            statuses = ", ".join(f"{n} x {code}" for code, n in sorted(r["codes"].items()))
            last = statistics.median(w for w, _ in r["last"]) * 1000
            errors = "/".join(sorted({e.get("error", "ok") for _, e in r["last"]}))
            print(
                f"| {name} | {kind} | {statuses} | {percentile(walls, 50):.1f} | {p99:.1f} "
                f"| {max(walls):.1f} | {slowest:.1f} | {p99 - slowest:+.1f} "
                f"(target <= +{TARGET_MS:g}) | {last:.0f} ms median, {errors} | {r['cpu_ms']:.0f} |"
            )


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds of each kind")
    parser.add_argument("--callers", type=int, default=32, help="concurrent requests per round")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="healthy upstream latency")
    parser.add_argument("--baseline", help="PYTHONPATH of another chinook_svc to compare")
    options = parser.parse_args()
    task.react(lambda reactor: ensureDeferred(run(reactor, options)))


if __name__ == "__main__":
    main()
