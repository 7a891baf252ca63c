"""What the access log costs: throughput with it on and off, interleaved in one run.

Usage::

    .venv/bin/python bench/access_log_cost.py                      # E2 and E1, 3 rounds of 5 s
    .venv/bin/python bench/access_log_cost.py --endpoints E2 --rounds 5 -d 10s
    .venv/bin/python bench/access_log_cost.py --variants off text json

One ``twistd -n chinook`` per variant runs at the same time, each on its own
copy of the database: ``--access-log off``, ``--access-log -`` (the default,
text, standard output) and ``--access-log - --log-format json``; standard
output goes to a file, as it would to a log collector.  For each endpoint,
each round runs ``wrk`` against every variant in turn, starting with another
variant each round (so the machine's
noise spreads over all of them), and the table gives each run's requests/s
and the service's CPU time per request (user + system, from ``/proc``: far
less sensitive than requests/s to what else runs on the machine), then, per
variant, the median ratio to ``off`` over the rounds of each.  Needs
``wrk``; traffic goes to 127.0.0.1 only, for a bounded time.  First, the
cost of one line alone: formatting it and buffering it (written to
``/dev/null``), in a loop.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from serve_bench import (
    BIN,
    ENDPOINTS,
    REFERENCE,
    cpu_seconds,
    free_port,
    parse_wrk,
    wait_until_healthy,
)
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.web.http_headers import Headers

from chinook_svc.log_output import LineWriter
from chinook_svc.web.access_log import AccessLog

VARIANTS = {
    "off": ["--access-log", "off"],
    "text": ["--access-log", "-"],
    "json": ["--access-log", "-", "--log-format", "json"],
}


def start(variant: str, workdir: Path, db_url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    """``twistd -n chinook`` for ``variant``, standard output to a file; once /healthz answers."""
    port = free_port()
    args = [str(BIN / "twistd"), "-n", "--pidfile=", "chinook",
            "--listen", f"tcp:{port}:interface=127.0.0.1", *VARIANTS[variant]]  # fmt: skip
    if db_url:
        args += ["--db", db_url]
    with (workdir / f"{variant}.out").open("wb") as out:
        process = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return wait_until_healthy(process, port, workdir / f"{variant}.out"), port


class _Request:
    """What the access log reads of a finished request (for :func:`line_cost`)."""

    method, uri, clientproto = b"GET", b"/api/albums/1", b"HTTP/1.1"
    code, sentLength, started_at, request_id = 200, 175, 0.0, "9f0c4d1e6b1a4c8e9d2f3a4b5c6d7e8f"
    requestHeaders = Headers({b"user-agent": [b"wrk"], b"referer": [b"http://a.example/"]})

    def getClientAddress(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 40000)


def line_cost(log_format: str, count: int = 100_000) -> float:
    """Microseconds to format and buffer one line (written to /dev/null)."""
    clock = Clock()
    with open(os.devnull, "wb") as devnull:
        access_log = AccessLog(LineWriter(devnull.fileno()), clock, log_format)
        request = _Request()
        started = time.perf_counter()
        for _ in range(count):
            access_log.writer.write(access_log.line(request))
        access_log.writer.flush()
        return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    """Run the rounds and print one line per run, then the ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", default="5s", help="per run, wrk syntax (default 5s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoints", nargs="+", choices=sorted(ENDPOINTS), default=["E2", "E1"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["off", "text"])
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install wrk", file=sys.stderr)
        return 2
    variants = ["off", *[v for v in args.variants if v != "off"]]
    for log_format in ("text", "json"):
        print(f"one {log_format} line, formatted and buffered: {line_cost(log_format):.2f} us")
    with tempfile.TemporaryDirectory(prefix="chinook-access-") as tmp:
        workdir = Path(tmp)
        services = {}
        try:
            for variant in variants:
                db_url = None
                if REFERENCE.exists():
                    copy = workdir / f"{variant}.db"
                    shutil.copyfile(REFERENCE, copy)
                    db_url = f"sqlite:///{copy}"
                services[variant] = start(variant, workdir, db_url)
            print(f"wrk -t1 -c{args.connections} -d{args.duration}, {args.rounds} rounds")
            print("per variant: req/s, service CPU microseconds per request")
            print(f"{'':3} {'round':>5} " + " ".join(f"{v:>20}" for v in variants))
            for name in args.endpoints:
                ratios: dict[str, list[float]] = {v: [] for v in variants[1:]}
                cpu_ratios: dict[str, list[float]] = {v: [] for v in variants[1:]}
                for round_ in range(1, args.rounds + 1):
                    rps, cpu = {}, {}
                    # Each round starts with another variant: no variant always goes first.
                    shift = (round_ - 1) % len(variants)
                    for variant in variants[shift:] + variants[:shift]:
                        process, port = services[variant]
                        url = f"http://127.0.0.1:{port}{ENDPOINTS[name]}"
                        urllib.request.urlopen(url, timeout=10).read()  # warm up
                        before = cpu_seconds(process.pid)
                        run = subprocess.run(
                            [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}",
                             "--latency", url],
                            capture_output=True, text=True, check=True,
                        )  # fmt: skip
                        used = cpu_seconds(process.pid) - before
                        count = int(re.search(r"(\d+) requests in", run.stdout)[1])  # type: ignore[index]
                        rps[variant] = parse_wrk(run.stdout)["rps"]
                        cpu[variant] = used / count * 1e6
                    for variant in variants[1:]:
                        ratios[variant].append(rps[variant] / rps["off"])
                        cpu_ratios[variant].append(cpu[variant] / cpu["off"])
                    cells = " ".join(f"{rps[v]:9.1f} {cpu[v]:7.0f} us" for v in variants)
                    print(f"{name:3} {round_:5d} {cells}", flush=True)
                for variant in variants[1:]:
                    rate = statistics.median(ratios[variant])
                    cost = statistics.median(cpu_ratios[variant])
                    print(
                        f"{name:3} {variant}/off median: req/s x{rate:.3f} "
                        f"({(rate - 1) * 100:+.1f}%), CPU per request x{cost:.3f} "
                        f"({(cost - 1) * 100:+.1f}%)"
                    )
            sizes = {v: (workdir / f"{v}.out").stat().st_size for v in variants}
            print("bytes written to standard output:", sizes)
        finally:
            for process, _ in services.values():
                process.send_signal(signal.SIGTERM)
            for process, _ in services.values():
                process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
