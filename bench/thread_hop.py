"""What the hop to the database thread pool costs one process, against Klein's ceiling.

    .venv/bin/python bench/thread_hop.py [--endpoint /api/albums] [-d 10s] [--rounds 3]

One process serves the service's API (``bench/compare/peers/chinook_launcher.py``:
``build_api`` under ``/api``, a plain ``Site``) over a private copy of the
reference ``chinook.db`` in these ways, and the Klein fixed-bytes ceiling of
``bench/compare`` for scale:

- ``threads N``: the service's way, every database call through
  ``deferToThreadPool`` on an N-thread pool;
- ``inline``: the same handlers called on the reactor thread.  This blocks
  the reactor and is never how the service runs; it is here only to measure
  what the thread hop and the GIL hand-offs cost;
- ``klein ceiling``: a Klein app answering 2,048 fixed bytes;
- ``--variant LABEL=ARGS``: the launcher with extra arguments (its default
  pool, 5 threads), e.g. ``--switch-interval 0.001`` (the interpreter's
  thread switch interval).

Each round runs every server once, in turn (``wrk -t1 -c32``, after a 2 s
warm-up); the table shows medians, and the CPU time each process used per
request (``/proc``): on a loaded machine req/s follow the other processes'
load, CPU time per request much less.  A figure, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from serve_bench import REFERENCE, free_port, parse_wrk

ROOT = Path(__file__).resolve().parent
PEERS = ROOT / "compare" / "peers"
LAUNCHER = PEERS / "chinook_launcher.py"
CEILING = PEERS / "ceiling_klein.py"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"server did not start: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="/api/albums")
    parser.add_argument("-d", "--duration", default="10s")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="*", default=[5, 1])
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=ARGS",
        help="also run the launcher with these extra arguments, e.g. "
        "'switch 1ms=--switch-interval 0.001' (repeatable)",
    )
    parser.add_argument("--no-inline", action="store_true", help="skip the inline server")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    if not REFERENCE.exists():
        sys.exit(f"needs the reference database at {REFERENCE}")
    folder = Path(tempfile.mkdtemp(prefix="chinook-hop-"))
    database = folder / "chinook.db"
    shutil.copyfile(REFERENCE, database)
    modes = [f"threads {n}" for n in args.threads] + list(variants)
    modes += ([] if args.no_inline else ["inline"]) + ["klein ceiling"]
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    try:
        for _ in range(args.rounds):
            for mode in modes:
                port = free_port()
                if mode == "klein ceiling":
                    command = [sys.executable, str(CEILING), "--port", str(port)]
                else:
                    command = [sys.executable, str(LAUNCHER), "--port", str(port),
                               "--db", f"sqlite:///{database}"]  # fmt: skip
                    if mode == "inline":
                        command += ["--runner", "inline"]
                    elif mode in variants:
                        command += variants[mode].split()
                    else:
                        command += ["--threads", mode.split()[1]]
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                url = f"http://127.0.0.1:{port}{args.endpoint}"
                try:
                    wait_up(url, process)
                    subprocess.run(["wrk", "-t1", f"-c{args.connections}", "-d2s", url],
                                   capture_output=True, check=True)  # fmt: skip
                    cpu_before = cpu_seconds(process.pid)
                    started = time.monotonic()
                    out = subprocess.run(
                        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}",
                         "--latency", url],
                        capture_output=True, text=True, check=True,
                    ).stdout  # fmt: skip
                    elapsed = time.monotonic() - started
                    figures = parse_wrk(out)
                    served = figures["rps"] * elapsed
                    figures["cpu_ms"] = (cpu_seconds(process.pid) - cpu_before) * 1000 / served
                    results[mode].append(figures)
                    print(f"  {mode}: {figures['rps']:,.0f} req/s, "
                          f"{figures['cpu_ms']:.3f} CPU ms/request", file=sys.stderr)  # fmt: skip
                finally:
                    process.terminate()
                    process.wait(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ceiling = statistics.median(r["rps"] for r in results["klein ceiling"])
    ceiling_cpu = statistics.median(r["cpu_ms"] for r in results["klein ceiling"])
    print(f"\nGET {args.endpoint}, wrk -t1 -c{args.connections} -d{args.duration}, "
          f"medians of {args.rounds} rounds, one process each\n")  # fmt: skip
    print("| server | req/s | p99 ms | share of the Klein ceiling | CPU ms per request "
          "| Klein's CPU per request ÷ this one's |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for mode in modes:
        rps = statistics.median(r["rps"] for r in results[mode])
        p99 = statistics.median(r["p99"] for r in results[mode])
        cpu = statistics.median(r["cpu_ms"] for r in results[mode])
        print(f"| {mode} | {rps:,.0f} | {p99:.1f} | {rps / ceiling:.0%} | {cpu:.3f} "
              f"| {ceiling_cpu / cpu:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
