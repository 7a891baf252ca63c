"""What the metrics cost: E1 (``/api/albums``) with metrics on and off, in the same run.

Usage::

    .venv/bin/python bench/metrics_overhead.py                     # 6 rounds of 5 s each way
    .venv/bin/python bench/metrics_overhead.py --rounds 10 -d 10s -c 32
    .venv/bin/python bench/metrics_overhead.py --workers 2

Two services run side by side on the same private copy of the database, one
with ``--metrics on`` (the default) and one with ``--metrics off``; only the
one being measured gets traffic.  The rounds alternate which goes first
(on/off, off/on, ...) so that drift in a noisy machine's load hits both
alike.  It prints each round's requests/s and the service's CPU time per
request (user + system, from ``/proc/<pid>/stat``: with other work on the
machine, throughput mostly measures the share of the CPU the service got,
while CPU time per request measures what each request costs it), then the
median of each side; the overhead is ``on/off - 1`` of the CPU medians (and
``1 - on/off`` of the throughput medians).  During the "on" runs a scraper
asks for ``/metrics`` every ``--scrape`` seconds, as Prometheus would.
Needs ``wrk`` and Linux's ``/proc``; traffic stays on 127.0.0.1.

``--micro`` measures instead, in this process and in CPU time (so the
machine's other load matters less), what the metrics add to a request: the
HTTP side (route template, the finish callback, the counter and the
histogram) and a SQLite statement with and without its timing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import (
    BIN,
    ENDPOINTS,
    REFERENCE,
    cpu_seconds,
    free_port,
    parse_wrk,
    wait_until_healthy,
)


def start(
    db_url: str, port: int, workdir: Path, metrics: bool, workers: int
) -> subprocess.Popen[bytes]:
    """``twistd -n chinook`` with metrics on or off, up (its /healthz answers) within 60 s."""
    log = f"--logfile={workdir / f'twistd-{port}.log'}"
    args = [str(BIN / "twistd"), "-n", "--pidfile=", log, "chinook",
            "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db_url,
            "--metrics", "on" if metrics else "off", "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(args, cwd=workdir)
    return wait_until_healthy(process, port, workdir / f"twistd-{port}.log")


class Scraper(threading.Thread):
    """GETs ``url`` every ``every`` seconds until stopped; counts the scrapes."""

    def __init__(self, url: str, every: float) -> None:
        super().__init__(daemon=True)
        self.url, self.every, self.count = url, every, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            with urllib.request.urlopen(self.url, timeout=10) as r:
                r.read()
            self.count += 1


def measure(wrk: str, url: str, args: argparse.Namespace, pid: int) -> tuple[float, float]:
    """Requests/s of one wrk run on ``url``, and the service's CPU microseconds per request."""
    before = cpu_seconds(pid)
    run = subprocess.run(
        [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}", "--latency", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    used = cpu_seconds(pid) - before
    result = parse_wrk(run.stdout)
    if result["non_2xx"] or result["socket_errors"]:
        print(f"  (errors: {result['non_2xx']:.0f} non-2xx {result['socket_errors']})")
    requests = int(re.search(r"(\d+) requests in", run.stdout)[1])  # type: ignore[index]
    return result["rps"], 1e6 * used / requests


def cpu_per_call(f: object, n: int) -> float:
    """CPU microseconds per call of ``f()``, after a warm-up."""
    for _ in range(n // 10):
        f()  # type: ignore[operator]
    started = time.process_time()
    for _ in range(n):
        f()  # type: ignore[operator]
    return 1e6 * (time.process_time() - started) / n


def micro(rounds: int) -> None:
    """Print the in-process CPU cost of the metrics' work per request and per statement."""
    from sqlalchemy import create_engine, text
    from twisted.internet.defer import Deferred

    from chinook_svc.metrics import ServiceMetrics, route_template
    from chinook_svc.metrics.statements import time_statements

    metrics = ServiceMetrics()

    def request_side() -> None:
        d: Deferred[None] = Deferred()
        route = route_template([b"api", b"albums"])
        d.addBoth(lambda _: metrics.request_done(route, "GET", 200, 0.001))
        d.callback(None)

    plain, timed = create_engine("sqlite://"), create_engine("sqlite://")
    time_statements(timed, metrics)
    select = text("SELECT 1")
    with plain.connect() as p, timed.connect() as t:
        costs: dict[str, list[float]] = {"request": [], "plain": [], "timed": []}
        for _ in range(rounds):
            costs["request"].append(cpu_per_call(request_side, 50_000))
            costs["plain"].append(cpu_per_call(lambda: p.execute(select).scalar(), 20_000))
            costs["timed"].append(cpu_per_call(lambda: t.execute(select).scalar(), 20_000))
    med = {k: statistics.median(v) for k, v in costs.items()}
    print(f"HTTP side per request: {med['request']:.1f} us CPU (median of {rounds})")
    print(f"a statement: {med['plain']:.1f} us plain, {med['timed']:.1f} us timed: "
          f"{med['timed'] - med['plain']:+.1f} us")  # fmt: skip


def main() -> int:
    """Run the interleaved rounds and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds (default 6)")
    parser.add_argument("-d", "--duration", default="5s", help="each run, wrk syntax (default 5s)")
    parser.add_argument("-c", "--connections", type=int, default=32, help="connections (32)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--scrape", type=float, default=1.0, help="seconds between scrapes (1)")
    parser.add_argument("--micro", action="store_true", help="in-process CPU cost instead")
    args = parser.parse_args()
    if args.micro:
        micro(args.rounds)
        return 0
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="chinook-metrics-bench-") as tmp:
        workdir = Path(tmp)
        if REFERENCE.exists():
            shutil.copyfile(REFERENCE, workdir / "chinook.db")
            db_url = f"sqlite:///{workdir / 'chinook.db'}"
        else:
            sys.exit(f"no reference database at {REFERENCE}")
        ports = {True: free_port(), False: free_port()}
        services = {m: start(db_url, ports[m], workdir, m, args.workers) for m in (True, False)}
        rps: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        try:
            for m in (True, False):  # warm both up
                urllib.request.urlopen(f"http://127.0.0.1:{ports[m]}{ENDPOINTS['E1']}").read()
            print(f"E1 {ENDPOINTS['E1']}, wrk -t1 -c{args.connections} -d{args.duration}, "
                  f"{args.workers} worker(s), scrape every {args.scrape:g} s when on")  # fmt: skip
            print(f"{'round':>5} {'on req/s':>9} {'off req/s':>10} {'on us/req':>10} "
                  f"{'off us/req':>11} {'on/off':>7}")  # fmt: skip
            for n in range(args.rounds):
                for m in (True, False) if n % 2 == 0 else (False, True):
                    scraper = Scraper(f"http://127.0.0.1:{ports[m]}/metrics", args.scrape)
                    if m:
                        scraper.start()
                    url = f"http://127.0.0.1:{ports[m]}{ENDPOINTS['E1']}"
                    r, c = measure(wrk, url, args, services[m].pid)
                    rps[m].append(r)
                    cpu[m].append(c)
                    scraper.done.set()
                on, off = cpu[True][-1], cpu[False][-1]
                print(f"{n + 1:5d} {rps[True][-1]:9.1f} {rps[False][-1]:10.1f} {on:10.0f} "
                      f"{off:11.0f} {on / off:7.3f}", flush=True)  # fmt: skip
        finally:
            for service in services.values():
                service.send_signal(signal.SIGTERM)
                service.wait(timeout=30)
    on, off = statistics.median(rps[True]), statistics.median(rps[False])
    print(f"throughput, median: on {on:.1f} req/s, off {off:.1f} req/s: "
          f"{100 * (1 - on / off):+.1f}% lost with metrics")  # fmt: skip
    on, off = statistics.median(cpu[True]), statistics.median(cpu[False])
    ratios = sorted(a / b for a, b in zip(cpu[True], cpu[False], strict=True))
    print(f"CPU per request, median: on {on:.0f} us, off {off:.0f} us: "
          f"{100 * (on / off - 1):+.1f}% with metrics "
          f"(per-round on/off from {ratios[0]:.3f} to {ratios[-1]:.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
