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
- ``klein ceiling``: a Klein app answering 2,048 fixed bytes.

Each round runs every server once, in turn (``wrk -t1 -c32``, after a 2 s
warm-up); the table shows medians.  A figure, not a test.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    if not REFERENCE.exists():
        sys.exit(f"needs the reference database at {REFERENCE}")
    folder = Path(tempfile.mkdtemp(prefix="chinook-hop-"))
    database = folder / "chinook.db"
    shutil.copyfile(REFERENCE, database)
    modes = [f"threads {n}" for n in args.threads] + ["inline", "klein ceiling"]
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
                    else:
                        command += ["--threads", mode.split()[1]]
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                url = f"http://127.0.0.1:{port}{args.endpoint}"
                try:
                    wait_up(url, process)
                    subprocess.run(["wrk", "-t1", f"-c{args.connections}", "-d2s", url],
                                   capture_output=True, check=True)  # fmt: skip
                    out = subprocess.run(
                        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}",
                         "--latency", url],
                        capture_output=True, text=True, check=True,
                    ).stdout  # fmt: skip
                    results[mode].append(parse_wrk(out))
                    print(f"  {mode}: {results[mode][-1]['rps']:,.0f} req/s", file=sys.stderr)
                finally:
                    process.terminate()
                    process.wait(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ceiling = statistics.median(r["rps"] for r in results["klein ceiling"])
    print(f"\nGET {args.endpoint}, wrk -t1 -c{args.connections} -d{args.duration}, "
          f"medians of {args.rounds} rounds, one process each\n")  # fmt: skip
    print("| server | req/s | p99 ms | share of the Klein ceiling |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        rps = statistics.median(r["rps"] for r in results[mode])
        p99 = statistics.median(r["p99"] for r in results[mode])
        print(f"| {mode} | {rps:,.0f} | {p99:.1f} | {rps / ceiling:.0%} |")


if __name__ == "__main__":
    main()
