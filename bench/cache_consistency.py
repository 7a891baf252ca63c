"""The response cache: what a hit costs, before and after shared invalidation, and stale reads.

    .venv/bin/python bench/cache_consistency.py                    # both parts
    .venv/bin/python bench/cache_consistency.py --hits-only        # no server
    .venv/bin/python bench/cache_consistency.py --before --wrk 5s  # main's code too; cached req/s
    .venv/bin/python bench/cache_consistency.py --db postgresql+psycopg://postgres@127.0.0.1/test

1. **Hit path.** ``ResponseCache.get`` on a hit, in one process, for the
   cache as it was at ``--before-rev`` (its ``_cache.py`` loaded from git) and
   as it is now (a private generation table, and a two-slot table as in a
   worker): interleaved rounds, best of many short bursts (the order rotated), nanoseconds per hit.
2. **Stale reads.** ``twistd chinook --workers 2 --cache-ttl 30
   --allow-writes`` on a private copy of the reference ``chinook.db`` (or a
   new schema of ``--db``'s PostgreSQL database): for ``--seconds``, PATCH
   album 1's title, then read it through new connections (both workers
   answer) until the next PATCH; a read showing an older title is stale.
   With ``--before``, the same against ``--before-rev``'s code (exported
   with ``git archive`` and put first on ``PYTHONPATH``).
3. **Cached requests/s** (``--wrk 5s``): one process, ``wrk -t1 -c32`` on a
   cached ``/api/albums/1``, before and after, two interleaved rounds.

The reference file is ``$CHINOOK_SHARED/chinook/chinook.db`` (as for ``serve_bench.py``).

Figures, not a test; traffic to 127.0.0.1 only, for a bounded time.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from serve_bench import BIN, REFERENCE, ROOT, free_port, parse_wrk

TOKEN = "bench-cache-token-0123456789abcdef"


def old_cache_class(rev: str) -> Any:
    """``ResponseCache`` as ``_cache.py`` was at ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:chinook_svc/restless/_cache.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    spec = importlib.util.spec_from_loader("chinook_svc.restless._cache_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "chinook_svc.restless"
    exec(compile(source, f"{rev}:_cache.py", "exec"), module.__dict__)  # nosec B102: our own file
    return module.ResponseCache


def hit_costs(rev: str, hits: int, rounds: int) -> dict[str, float]:
    """Nanoseconds per hit of each variant (best of ``rounds`` interleaved rounds)."""
    from twisted.internet.task import Clock

    from chinook_svc.restless import Reply, ResponseCache, SharedGenerations, create_table
    from chinook_svc.restless._representation import Representation

    answer = Representation.of(Reply(200, b'{"title": "x"}', (), None))
    clock = Clock()
    fd = create_table(2)
    variants: dict[str, Any] = {}
    before = old_cache_class(rev)(clock, 30)
    before.put("k", answer, before.generation)
    variants[f"before ({rev})"] = before
    private = ResponseCache(clock, 30)
    shared = ResponseCache(clock, 30, generations=SharedGenerations.from_descriptor(fd, 2, 1))
    for name, cache in (("after, one process", private), ("after, worker of 2", shared)):
        cache.put("k", answer, cache.token())
        variants[name] = cache
    best = dict.fromkeys(variants, float("inf"))
    names = list(variants)
    for round_ in range(rounds * 10):  # short bursts, the order rotated: less noise
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            get = variants[name].get
            started = time.perf_counter_ns()
            for _ in range(hits // 10):
                get("k")
            best[name] = min(best[name], (time.perf_counter_ns() - started) / (hits // 10))
    os.close(fd)
    return best


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@contextmanager
def serving(db_url: str, workdir: Path, pythonpath: str | None, *extra: str) -> Iterator[int]:
    """``twistd chinook --cache-ttl 30 --allow-writes EXTRA`` on ``db_url``: its port, while up."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINOOK_")}
    env["CHINOOK_API_TOKEN"] = TOKEN
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    args = [str(BIN / "twistd"), "-n", "--pidfile=", f"--logfile={workdir / 'twistd.log'}",
            "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db_url,
            "--cache-ttl", "30", "--allow-writes", *extra]  # fmt: skip
    process = subprocess.Popen(args, cwd=workdir, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                sys.exit(f"the service did not start; see {workdir / 'twistd.log'}")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def stale_rate(port: int, seconds: float) -> tuple[int, int]:
    """(stale reads, reads) after PATCHes through ``port`` (two workers behind it)."""
    stale = reads = 0
    end = time.monotonic() + seconds
    version = 0
    while time.monotonic() < end:
        for _ in range(10):  # both workers cache the current title
            call(port, "GET", "/api/albums/1")
        version += 1
        title = f"bench {version}"
        status, _ = call(port, "PATCH", "/api/albums/1", {"title": title})
        assert status == 200, status
        for _ in range(40):
            status, body = call(port, "GET", "/api/albums/1")
            reads += 1
            stale += body["title"] != title
    return stale, reads


def cached_rps(port: int, duration: str) -> float:
    """Requests/s of ``wrk -t1 -c32`` on a cached ``/api/albums/1`` (after a 1 s warm-up)."""
    url = f"http://127.0.0.1:{port}/api/albums/1"
    subprocess.run(["wrk", "-t1", "-c32", "-d1s", url], check=True, capture_output=True)
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{duration}", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return parse_wrk(out)["rps"]


def export(rev: str, directory: Path) -> str:
    """``rev``'s tree exported into ``directory`` (for ``PYTHONPATH``)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return str(directory)


def database(db: str | None, workdir: Path) -> tuple[str, Any]:
    """The URL to serve and a clean-up: a copy of the reference file, or a new PG schema."""
    if db is None:
        copy = workdir / "chinook.db"
        shutil.copyfile(REFERENCE, copy)
        return f"sqlite:///{copy}", lambda: None
    from serve_bench import drop_postgres, load_postgres

    schema, url = load_postgres(db)
    return url, lambda: drop_postgres(db, schema)


def main() -> int:
    """Print both parts' figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-rev", default="main")
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a copy of chinook.db)")
    parser.add_argument("--hits-only", action="store_true")
    parser.add_argument("--before", action="store_true", help="also serve --before-rev's code")
    parser.add_argument("--wrk", metavar="DURATION", help="also measure cached req/s (e.g. 5s)")
    args = parser.parse_args()
    print("Hit path (ResponseCache.get on a hit, ns per hit, best of rounds):")
    for name, ns in hit_costs(args.before_rev, args.hits, args.rounds).items():
        print(f"  {name:<24} {ns:8.1f}")
    if args.hits_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="chinook-cache-bench-") as tmp:
        runs: list[tuple[str, str | None]] = [("after", None)]
        if args.before:
            runs.insert(
                0, (f"before ({args.before_rev})", export(args.before_rev, Path(tmp) / "src"))
            )

        def serve(pythonpath: str | None, *extra: str) -> Any:
            workdir = Path(tempfile.mkdtemp(dir=tmp))
            url, cleanup = database(args.db, workdir)
            stack = ExitStack()
            stack.callback(cleanup)
            return stack, stack.enter_context(serving(url, workdir, pythonpath, *extra))

        if args.wrk:
            print(f"Cached GET /api/albums/1, 1 process, wrk -t1 -c32 -d{args.wrk} (req/s):")
            for round_ in range(2):
                for name, pythonpath in runs:
                    stack, port = serve(pythonpath)
                    with stack:
                        print(f"  round {round_ + 1} {name:<18} {cached_rps(port, args.wrk):9.0f}")
        print(f"Stale reads, 2 workers, --cache-ttl 30, {args.seconds:g} s of PATCH + 40 reads:")
        for name, pythonpath in runs:
            stack, port = serve(pythonpath, "--workers", "2")
            with stack:
                stale, reads = stale_rate(port, args.seconds)
            print(f"  {name:<24} {stale} stale of {reads} reads ({100 * stale / reads:.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
