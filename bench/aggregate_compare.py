"""The flask-restless article's fan-out comparison, side by side, on local fake upstreams.

One command, from the project root::

    .venv/bin/python bench/aggregate_compare.py [--repeat 7] [--delay-ms 200] [--counts 4,10]

It starts, each in its own process on 127.0.0.1: fake upstreams that answer
after ``--delay-ms``, and the real ``/aggregate`` endpoint configured with
them as sources.  Then, for 4 and 10 upstreams, it times ``--repeat`` rounds
(after one warm-up round) of:

* sequential treq (one call after the other, as the article's baseline);
* gevent + requests (the article's version), in ``bench/.peers``;
* asyncio + aiohttp, in ``bench/.peers``;
* a direct concurrent treq fan-out (``gatherResults``), in this process;
* ``GET /aggregate`` end to end (this process -> service -> upstreams).

and prints a Markdown table of median and minimum wall times, with the
overhead of ``/aggregate`` over the slowest upstream and over the direct treq
fan-out.  The peers' virtualenv (gitignored) is created on first use with
``pip install gevent requests aiohttp``; ``--no-peers`` skips them.

Figures, not a test: nothing here fails on a slow machine, it only reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.utils import getProcessOutputAndValue
from twisted.web.client import Agent, HTTPConnectionPool

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
PEER_PACKAGES = ["gevent", "requests", "aiohttp"]
TARGET_OVER_SLOWEST_MS = 15.0
TARGET_OVER_DIRECT_MS = 5.0


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


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``aggregate_servers.py args`` and read where it listens."""
    command = [sys.executable, str(BENCH / "aggregate_servers.py"), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit(f"could not start {args[0]}")
    return process, json.loads(line)


async def timed(repeat: int, fan_out: Callable[[], Awaitable[Any]]) -> list[float]:
    """Wall seconds of ``repeat`` rounds of ``fan_out``, after a warm-up round."""
    await fan_out()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fan_out()
        times.append(time.perf_counter() - started)
    return times


async def fetch(http: HTTPClient, url: str) -> Any:
    """GET ``url`` and decode its JSON body."""
    response = await http.get(url)
    body = await response.json()
    if response.code != 200:
        raise RuntimeError(f"{url}: {response.code} {body}")
    return body


async def peer(python: Path, kind: str, repeat: int, urls: list[str]) -> list[float]:
    """Timings of a peer fan-out run in the peers' virtualenv."""
    script = str(BENCH / "aggregate_peers.py")
    out, err, code = await getProcessOutputAndValue(
        str(python), [script, kind, str(repeat), *urls], env=dict(os.environ)
    )
    if code != 0:
        raise RuntimeError(f"{kind} failed: {err.decode()}")
    return list(json.loads(out)["times"])


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000.0


async def run(reactor: Any, options: argparse.Namespace) -> None:
    """Start the servers, time every approach, print the table."""
    counts = [int(c) for c in options.counts.split(",")]
    python = None if options.no_peers else peers_python()
    upstreams, info = start("upstreams", str(max(counts)), str(options.delay_ms))
    urls: list[str] = info["urls"]
    specs = [f"s{i}={url}" for i, url in enumerate(urls)]
    service, service_info = start("service", *specs)
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max(counts)
    http = HTTPClient(Agent(reactor, pool=pool))
    rows: dict[str, dict[int, list[float]]] = {}
    try:
        for n in counts:
            some = urls[:n]
            query = "?" + "&".join(f"source=s{i}" for i in range(n))
            aggregate_url = service_info["url"] + query

            async def sequential(some: list[str] = some) -> None:
                for url in some:
                    await fetch(http, url)

            async def direct(some: list[str] = some) -> None:
                await gatherResults([ensureDeferred(fetch(http, url)) for url in some])

            async def aggregate(url: str = aggregate_url) -> None:
                body = await fetch(http, url)
                assert body["complete"], body

            approaches: list[tuple[str, Callable[[], Awaitable[list[float]]]]] = [
                ("sequential treq", lambda f=sequential: timed(options.repeat, f)),
            ]
            if python is not None:
                approaches += [
                    ("gevent + requests (article)",
                     lambda some=some: peer(python, "gevent", options.repeat, some)),
                    ("asyncio + aiohttp",
                     lambda some=some: peer(python, "aiohttp", options.repeat, some)),
                ]  # fmt: skip
            approaches += [
                ("concurrent treq (direct)", lambda f=direct: timed(options.repeat, f)),
                ("GET /aggregate (end to end)", lambda f=aggregate: timed(options.repeat, f)),
            ]
            for name, measure in approaches:
                rows.setdefault(name, {})[n] = await measure()
    finally:
        await pool.closeCachedConnections()
        for process in (service, upstreams):
            process.terminate()
            process.wait(timeout=10)
    report(rows, counts, options)


def report(rows: dict[str, dict[int, list[float]]], counts: list[int], options: Any) -> None:
    """Print the Markdown table and the overheads."""
    print(
        f"\n{options.repeat} rounds after a warm-up, upstreams answering after "
        f"{options.delay_ms:g} ms; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    header = " | ".join(f"{n} upstreams: median (min) ms" for n in counts)
    print(f"| approach | {header} |")
    print("|---" * (len(counts) + 1) + "|")
    for name, by_count in rows.items():
        cells = " | ".join(
            f"{ms(statistics.median(by_count[n])):.1f} ({ms(min(by_count[n])):.1f})" for n in counts
        )
        print(f"| {name} | {cells} |")
    aggregate = rows["GET /aggregate (end to end)"]
    direct = rows["concurrent treq (direct)"]
    sequential = rows["sequential treq"]
    print()
    for n in counts:
        median = statistics.median(aggregate[n])
        one_call = statistics.median(sequential[n]) / n  # an upstream's latency as seen here
        over_slowest = ms(median) - options.delay_ms
        over_direct = ms(median - statistics.median(direct[n]))
        print(
            f"{n} upstreams: /aggregate median is {over_slowest:+.1f} ms over the upstreams' "
            f"{options.delay_ms:g} ms ({ms(median - one_call):+.1f} ms over one call's measured "
            f"{ms(one_call):.1f} ms; target <= {TARGET_OVER_SLOWEST_MS:g}), "
            f"{over_direct:+.1f} ms over direct treq (target < {TARGET_OVER_DIRECT_MS:g})"
        )


def main() -> None:
    """Parse the options and run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per approach")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="upstream latency")
    parser.add_argument("--counts", default="4,10", help="numbers of upstreams, comma separated")
    parser.add_argument("--no-peers", action="store_true", help="skip gevent and aiohttp")
    options = parser.parse_args()
    task.react(lambda reactor: ensureDeferred(run(reactor, options)))


if __name__ == "__main__":
    main()
