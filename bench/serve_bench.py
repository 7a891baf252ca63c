"""Load benchmark of the service: twistd on a free loopback port, driven by wrk.

Usage::

    .venv/bin/python bench/serve_bench.py                 # reference chinook.db if present
    .venv/bin/python bench/serve_bench.py --db sqlite:////path/chinook.db -c 64 -d 30s
    .venv/bin/python bench/serve_bench.py --endpoints E1 E3
    .venv/bin/python bench/serve_bench.py --endpoints E1 --workers 1 2          # scaling
    .venv/bin/python bench/serve_bench.py --endpoints E1 --workers 1 2 \
        --load-postgres postgresql+psycopg://postgres@127.0.0.1/test          # on PostgreSQL

Endpoints (the issue's E1-E4)::

    E1  /api/albums
    E2  /api/albums/1
    E3  /api/tracks?q={"filters":[{"name":"genre_id","op":"==","val":1}],
                       "order_by":[{"field":"name"}]}&page=3   (URL-encoded)
    E4  /api/albums?page=30

The database defaults to a private copy of ``../shared/chinook/chinook.db``
(never the original: serving turns WAL on) and else to the embedded sample.
Needs ``wrk`` (``apt-get install wrk``). Traffic goes to 127.0.0.1 only, for a
bounded time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (
    Path(os.environ.get("CHINOOK_SHARED", ROOT.parent / "shared")) / "chinook" / "chinook.db"
)
BIN = Path(sys.executable).parent

_E3_QUERY = {
    "filters": [{"name": "genre_id", "op": "==", "val": 1}],
    "order_by": [{"field": "name"}],
}
ENDPOINTS = {
    "E1": "/api/albums",
    "E2": "/api/albums/1",
    "E3": "/api/tracks?q="
    + quote(json.dumps(_E3_QUERY, separators=(",", ":")), safe="")
    + "&page=3",
    "E4": "/api/albums?page=30",
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def millis(text: str) -> float:
    """wrk's ``1.23ms`` / ``850.00us`` / ``1.02s`` as milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50, p99 (ms) and error counts from ``wrk --latency`` output."""
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])}  # type: ignore[index]
    for pct in ("50", "99"):
        result[f"p{pct}"] = millis(re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    result["non_2xx"] = float(non_2xx[1]) if non_2xx else 0.0
    result["socket_errors"] = errors[0] if errors else ""  # type: ignore[assignment]
    return result


def start_service(
    db_url: str | None, port: int, threads: int | None, workdir: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    """Start ``twistd -n chinook`` and wait (at most 60 s) until /healthz answers 200."""
    log = f"--logfile={workdir / 'twistd.log'}"
    args = [str(BIN / "twistd"), "-n", "--pidfile=", log, "chinook",
            "--listen", f"tcp:{port}:interface=127.0.0.1"]  # fmt: skip
    if db_url:
        args += ["--db", db_url]
    if threads:
        args += ["--threads", str(threads)]
    if workers > 1:
        args += ["--workers", str(workers)]
    process = subprocess.Popen(args, cwd=workdir)
    return wait_until_healthy(process, port, workdir / "twistd.log")


def wait_until_healthy(
    process: subprocess.Popen[bytes], port: int, log: Path
) -> subprocess.Popen[bytes]:
    """``process`` once its /healthz on ``port`` answers 200 (within 60 s); else exit."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    sys.exit(f"the service did not start; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its children (workers) so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *children(pid)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def main() -> int:
    """Run the benchmark and print one line per endpoint."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", help="SQLAlchemy URL (default: a copy of the reference chinook.db, else the sample)"
    )
    parser.add_argument("-t", "--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "-c", "--connections", type=int, default=32, help="open connections (default 32)"
    )
    parser.add_argument(
        "-d", "--duration", default="10s", help="per endpoint, wrk syntax (default 10s)"
    )
    parser.add_argument("--threads", type=int, help="service database threads (default: pool size)")
    parser.add_argument(
        "--endpoints", nargs="+", choices=sorted(ENDPOINTS), default=sorted(ENDPOINTS)
    )
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1], help="worker processes to try (default 1)"
    )
    parser.add_argument(
        "--load-postgres",
        metavar="URL",
        help="load the bundled sample into a fresh schema of this PostgreSQL database, serve it, "
        "and drop the schema afterwards",
    )
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install wrk", file=sys.stderr)
        return 2

    schema = None
    with tempfile.TemporaryDirectory(prefix="chinook-bench-") as tmp:
        workdir = Path(tmp)
        db_url = args.db
        if args.load_postgres:
            schema, db_url = load_postgres(args.load_postgres)
        elif db_url is None and REFERENCE.exists():
            copy = workdir / "chinook.db"
            shutil.copyfile(REFERENCE, copy)
            db_url = f"sqlite:///{copy}"
        try:
            print(f"database: {db_url or 'embedded sample'}; wrk -t{args.wrk_threads} "
                  f"-c{args.connections} -d{args.duration} --latency")  # fmt: skip
            print(f"{'':3} {'workers':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  path")
            for workers in args.workers:
                run_all(args, wrk, db_url, workdir, workers)
        finally:
            if schema is not None and args.load_postgres:
                drop_postgres(args.load_postgres, schema)
    return 0


def load_postgres(url: str) -> tuple[str, str]:
    """Load the sample into a new schema; return it and the URL that serves it."""
    import uuid

    from sqlalchemy import create_engine

    from chinook_svc.sample import load_sample

    schema = f"chinook_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    try:
        load_sample(engine, schema=schema)
    finally:
        engine.dispose()
    separator = "&" if "?" in url else "?"
    return schema, f"{url}{separator}options=-csearch_path%3D{schema}"


def drop_postgres(url: str, schema: str) -> None:
    """Drop the benchmark's schema."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def run_all(
    args: argparse.Namespace, wrk: str, db_url: str | None, workdir: Path, workers: int
) -> None:
    """Start the service with ``workers`` processes and time every endpoint."""
    port = free_port()
    service = start_service(db_url, port, args.threads, workdir, workers)
    try:
        for name in args.endpoints:
            url = f"http://127.0.0.1:{port}{ENDPOINTS[name]}"
            urllib.request.urlopen(url, timeout=10).read()  # warm up
            run = subprocess.run(
                [wrk, f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration}",
                 "--latency", url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = parse_wrk(run.stdout)
            notes = "".join(
                [
                    f"  non-2xx: {r['non_2xx']:.0f}" if r["non_2xx"] else "",
                    f"  {r['socket_errors']}",
                ]
            ).rstrip()
            figures = f"{workers:7d} {r['rps']:9.1f} {r['p50']:8.2f} {r['p99']:8.2f}"
            print(f"{name:3} {figures}  {ENDPOINTS[name]}{notes}", flush=True)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
