"""The flask-restless article's fan-out comparison, side by side, on local fake upstreams.

One command, from the project root::

    .venv/bin/python bench/aggregate_compare.py [--repeat 7] [--delay-ms 200] [--counts 4,10]

It starts, each in its own process on 127.0.0.1: fake upstreams that answer
after ``--delay-ms``, and the real ``/aggregate`` endpoint configured with
them as sources.  Then, for 4 and 10 upstreams, it times ``--repeat`` rounds
of each approach (after one warm-up round each), interleaved so that a busy
moment of the machine hits every approach alike:

* sequential treq (one call after the other, as the article's baseline);
* gevent + requests (the article's version), in ``bench/.peers``;
* asyncio + aiohttp, in ``bench/.peers``;
* a direct concurrent treq fan-out (``gatherResults``), in this process;
* ``GET /aggregate`` end to end (this process -> service -> upstreams).

and prints a Markdown table of median and minimum wall times, with the
overhead of ``/aggregate`` over the slowest upstream and over the direct treq
fan-out (the median of the per-round differences).  The peers' virtualenv
(gitignored) is created on first use with ``pip install gevent requests
aiohttp``; ``--no-peers`` skips them.

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
from twisted.web.client import Agent, HTTPConnectionPool

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
PEER_PACKAGES = ["gevent", "requests", "aiohttp"]
TARGET_OVER_SLOWEST_MS = 15.0
SEQUENTIAL = "sequential treq"
GEVENT = "gevent + requests (the article's)"
AIOHTTP = "asyncio + aiohttp"
DIRECT = "concurrent treq, direct"
AGGREGATE = "GET /aggregate, end to end"

Round = Callable[[], Awaitable[float]]
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


async def fetch(http: HTTPClient, url: str) -> Any:
    """GET ``url`` and decode its JSON body."""
    response = await http.get(url)
    body = await response.json()
    if response.code != 200:
        raise RuntimeError(f"{url}: {response.code} {body}")
    return body


def timed(fan_out: Callable[[], Awaitable[Any]]) -> Round:
    """One round of an in-process fan-out, timed."""

    async def round_() -> float:
        started = time.perf_counter()
        await fan_out()
        return time.perf_counter() - started

    return round_


class Peer:
    """A peer fan-out in its own process (``aggregate_peers.py``), one round per request."""

    def __init__(self, python: Path, kind: str, urls: list[str]) -> None:
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
        self.process.wait(timeout=30)


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000.0


async def run(reactor: Any, options: argparse.Namespace) -> None:
    """Start the servers, time interleaved rounds of every approach, print the table."""
    counts = [int(c) for c in options.counts.split(",")]
    python = None if options.no_peers else peers_python()
    upstreams, info = start("upstreams", str(max(counts)), str(options.delay_ms))
    urls: list[str] = info["urls"]
    service, service_info = start("service", *(f"s{i}={url}" for i, url in enumerate(urls)))
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max(counts)
    http = HTTPClient(Agent(reactor, pool=pool))
    rows: dict[str, dict[int, list[float]]] = {}
    peers: list[Peer] = []
    try:
        for n in counts:
            some = urls[:n]
            aggregate_url = service_info["url"] + "?" + "&".join(f"source=s{i}" for i in range(n))

            async def sequential(some: list[str] = some) -> None:
                for url in some:
                    await fetch(http, url)

            async def direct(some: list[str] = some) -> None:
                await gatherResults([ensureDeferred(fetch(http, url)) for url in some])

            async def aggregate(url: str = aggregate_url) -> None:
                body = await fetch(http, url)
                assert body["complete"], body

            approaches: dict[str, Round] = {SEQUENTIAL: timed(sequential)}
            if python is not None:
                peers = [Peer(python, "gevent", some), Peer(python, "aiohttp", some)]
                approaches[GEVENT] = peers[0].round
                approaches[AIOHTTP] = peers[1].round
            approaches[DIRECT] = timed(direct)
            approaches[AGGREGATE] = timed(aggregate)
            names = list(approaches)
            for name in names:  # warm-up: connections, imports, caches
                await approaches[name]()
            for number in range(options.repeat):
                turn = number % len(names)  # rotate, so no approach always runs first
                for name in names[turn:] + names[:turn]:
                    rows.setdefault(name, {}).setdefault(n, []).append(await approaches[name]())
            for peer in peers:
                peer.close()
            peers = []
    finally:
        for peer in peers:
            peer.process.kill()
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
    aggregate, direct, sequential = rows[AGGREGATE], rows[DIRECT], rows[SEQUENTIAL]
    print()
    for n in counts:
        median = statistics.median(aggregate[n])
        one_call = statistics.median(sequential[n]) / n  # an upstream's latency as seen here
        paired = statistics.median(a - d for a, d in zip(aggregate[n], direct[n], strict=True))
        print(
            f"{n} upstreams: /aggregate median is {ms(median) - options.delay_ms:+.1f} ms over "
            f"the upstreams' {options.delay_ms:g} ms ({ms(median - one_call):+.1f} ms over one "
            f"call's measured {ms(one_call):.1f} ms; target <= {TARGET_OVER_SLOWEST_MS:g}); "
            f"{ms(paired):+.1f} ms over direct treq, median of paired rounds "
            f"(target < {TARGET_OVER_DIRECT_MS:g})"
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
