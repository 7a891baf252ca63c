"""Overload benchmark: a heavy search at 256 and 512 connections while cheap probes run.

Usage::

    .venv/bin/python bench/overload.py                       # SQLite and PostgreSQL, 15 s each
    .venv/bin/python bench/overload.py -d 30s --connections 256 512 1024
    .venv/bin/python bench/overload.py --databases sqlite --configs "" "--heavy-threads 1"
    git archive <commit> | tar -x -C /tmp/base     # the service before, side by side:
    .venv/bin/python bench/overload.py --configs "" "base=/tmp/base"

For each database (a fresh copy of the bundled sample: a SQLite file, a new
PostgreSQL schema dropped afterwards), each connection count and each
configuration (``--configs``: options of ``twistd chinook``; by default the
service's defaults and ``--queue-limit 1000000``, a practically unbounded
queue, side by side), it starts ``twistd -n chinook`` on a free loopback port
and runs ``wrk`` with the heavy request::

    /api/tracks?results_per_page=100&q={"filters":[{"name":"name","op":"like","val":"%a%"}],
                                        "order_by":[{"field":"milliseconds","direction":"desc"}]}

while three probes, each on a new connection every 50 ms (as a load balancer
or a new client would), ask for the heavy request, ``/api/albums/1`` (a cheap
read) and ``/healthz``.  It prints per run: the heavy requests wrk got
answered per second ("ok req/s"), the share of wrk's requests refused with
503 ("shed"), how long the heavy probe waited for a 503 (p50/p99), the cheap
and health probes' p50/p99 and answers that were not 200, and how many
``/healthz`` answers said "database unavailable" ("false": the database is up
throughout) or "saturated".  (wrk's own latencies are not shown: a refused
connection is not read from for a second, the ``Retry-After`` the service
enforces, so wrk's next request on it waits that long.)

Targets (issue 11): no false "database unavailable"; probe p99 <= 250 ms.
Needs ``wrk`` (``apt-get install wrk``).  Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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
from urllib.parse import quote

from serve_bench import drop_postgres, free_port, load_postgres, parse_wrk

BIN = Path(sys.executable).parent
POSTGRES = os.environ.get(
    "CHINOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HEAVY_QUERY = {
    "filters": [{"name": "name", "op": "like", "val": "%a%"}],
    "order_by": [{"field": "milliseconds", "direction": "desc"}],
}
HEAVY = "/api/tracks?results_per_page=100&q=" + quote(
    json.dumps(HEAVY_QUERY, separators=(",", ":")), safe=""
)
PROBES = (HEAVY, "/api/albums/1", "/healthz")
PROBE_EVERY = 0.05


class Prober(threading.Thread):
    """GETs ``path`` on a new connection every ``PROBE_EVERY`` seconds until stopped."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.by_status: dict[int, list[float]] = {}
        self.statuses: dict[int, int] = {}
        self.bodies: dict[str, int] = {}

    def run(self) -> None:
        """Probe until told to stop."""
        while not self.stop.is_set():
            started = time.monotonic()
            status, body = self.probe()
            millis = (time.monotonic() - started) * 1000
            self.latencies.append(millis)
            self.by_status.setdefault(status, []).append(millis)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if self.path == "/healthz" and body is not None:
                key = f"{body.get('database')}/{body.get('load')}"
                self.bodies[key] = self.bodies.get(key, 0) + 1
            self.stop.wait(max(0.0, PROBE_EVERY - (time.monotonic() - started)))

    def probe(self) -> tuple[int, dict[str, str] | None]:
        """One GET: (status, JSON body) or (0, None) when it failed or took over 30 s."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", self.path)
            response = connection.getresponse()
            body = response.read()
            return response.status, json.loads(body) if body else None
        except (OSError, http.client.HTTPException, ValueError):
            return 0, None
        finally:
            connection.close()

    def summary(self, status: int | None = None) -> tuple[float, float, int]:
        """p50 and p99 (ms) of all answers (or of those with ``status``), and the not-200s."""
        values = sorted(self.latencies if status is None else self.by_status.get(status, []))
        values = values or [float("nan")]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        not_ok = sum(n for code, n in self.statuses.items() if code != 200)
        return statistics.median(values), p99, not_ok


def start(db_url: str, workdir: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """``twistd -n chinook`` on a free port, up and answering /healthz (at most 60 s).

    ``extra`` holds options of ``twistd chinook``; a first item ``base=DIR``
    serves the ``chinook_svc`` found in DIR instead (an older checkout).
    """
    env = dict(os.environ)
    if extra and extra[0].startswith("base="):
        env["PYTHONPATH"] = extra[0].removeprefix("base=")
        extra = extra[1:]
    port = free_port()
    args = [str(BIN / "twistd"), "-n", "--pidfile=", f"--logfile={workdir / 'twistd.log'}",
            "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db_url,
            *extra]  # fmt: skip
    process = subprocess.Popen(args, cwd=workdir, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"the service did not start; see {workdir / 'twistd.log'}")


def run_one(wrk: str, db_url: str, connections: int, duration: str, workdir: Path,
            extra: list[str]) -> str:  # fmt: skip
    """One overload run; its line of figures."""
    process, port = start(db_url, workdir, extra)
    probers = [Prober(port, path) for path in PROBES]
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}{HEAVY}", timeout=10).read()  # warm up
        for prober in probers:
            prober.start()
        run = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{duration}", "--timeout", "30s", "--latency",
             f"http://127.0.0.1:{port}{HEAVY}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        for prober in probers:
            prober.stop.set()
        for prober in probers:
            prober.join(35)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    result = parse_wrk(run.stdout)
    total = float(_requests(run.stdout))
    shed = 100.0 * result["non_2xx"] / total if total else 0.0
    answered = result["rps"] * (1 - shed / 100)
    heavy, albums, health = probers
    s50, s99, _ = heavy.summary(503)
    a50, a99, a_bad = albums.summary()
    h50, h99, h_bad = health.summary()
    false_503 = health.statuses.get(503, 0)
    saturated = sum(n for key, n in health.bodies.items() if key.endswith("/saturated"))
    return (
        f"{connections:5d} {answered:8.1f} {shed:6.1f}% {s50:7.1f} {s99:7.1f}"
        f" {a50:7.1f} {a99:7.1f} {a_bad:4d} {h50:7.1f} {h99:7.1f} {h_bad:4d}"
        f" {false_503:5d} {saturated:4d}/{len(health.latencies):<4d}"
    )


def _requests(output: str) -> int:
    """wrk's "N requests in ..." count."""
    for line in output.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    return 0


def main() -> int:
    """Run every combination and print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-d", "--duration", default="15s", help="per run, wrk syntax (15s)")
    parser.add_argument("--connections", nargs="+", type=int, default=[256, 512])
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--configs", nargs="+", default=["", "--queue-limit 1000000"],
        help="twistd chinook options to compare, one string per configuration "
        "(default: the service's defaults, and a practically unbounded queue); "
        "'base=DIR' first serves the chinook_svc of another checkout in DIR",
    )  # fmt: skip
    parser.add_argument("--postgres", default=POSTGRES, help="PostgreSQL URL to load into")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed. On Debian/Ubuntu: apt-get install wrk", file=sys.stderr)
        return 2
    print(f"heavy: {HEAVY}\nprobes: {', '.join(PROBES)} every {PROBE_EVERY * 1000:.0f} ms on "
          f"new connections; wrk -t2 -d{args.duration} --timeout 30s; times in ms")  # fmt: skip
    header = (
        f"{'database':10} {'options':24} {'conns':>5} {'ok req/s':>8} {'shed':>7} {'503 p50':>7} "
        f"{'503 p99':>7} {'album50':>7} {'album99':>7} {'!200':>4} {'hlth50':>7} {'hlth99':>7} "
        f"{'!200':>4} {'false':>5} {'saturated'}"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="chinook-overload-") as tmp:
        workdir = Path(tmp)
        for database in args.databases:
            schema = None
            if database == "sqlite":
                db_url = f"sqlite:///{workdir / 'chinook.db'}"
                from sqlalchemy import create_engine

                from chinook_svc.sample import load_sample

                engine = create_engine(db_url)
                load_sample(engine)
                engine.dispose()
            else:
                schema, db_url = load_postgres(args.postgres)
            try:
                for connections in args.connections:
                    for config in args.configs:
                        line = run_one(wrk, db_url, connections, args.duration, workdir,
                                       config.split())  # fmt: skip
                        print(f"{database:10} {config or '(defaults)':24} {line}", flush=True)
            finally:
                if schema is not None:
                    drop_postgres(args.postgres, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
