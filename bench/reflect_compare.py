"""E1-E4 on the curated models and on the same database reflected, side by side, in-process.

    .venv/bin/python bench/reflect_compare.py [--requests 300] [--rounds 7] [--db URL]

The engine's request path (``q``, statements, rows, objects, JSON) without
HTTP, as ``bench/profile_requests.py`` times it, for three API sets over one
private copy of ``chinook.db``:

* ``curated``: ``twistd chinook``'s (``build_api`` over ``chinook_svc.models``);
* ``reflected``: ``twistd restless --naming snake``'s (``reflect_now``);
* ``reflected+inline``: the same with ``--inline-to-many``, whose tracks
  carry the same relations as the curated ones (E3's payload is then equal).

Many short rounds interleave the three (order rotated each round), each
timed in this process's CPU time (time spent waiting for a busy machine's
cores does not count); it prints the median CPU milliseconds per request,
the median of the per-round ratios to ``curated``, and whether the answer
bodies are equal.
A figure, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "compare"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchcmp.endpoints import ENDPOINTS
from profile_requests import api_request, database_copy

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.reflection import Choice, reflect_now
from chinook_svc.restless import InlineRunner
from chinook_svc.restless._api import answer
from chinook_svc.restless._render import JSON_RENDERER
from chinook_svc.web.app import build_api


def caller(manager: Any, key: str) -> Any:
    """A function answering endpoint ``key`` once with ``manager``'s API; returns the body."""
    apis = {api.options.collection_name: api for api in manager.registry.apis()}
    api = apis[ENDPOINTS[key].collection]
    request, instid = api_request(ENDPOINTS[key])

    def one() -> bytes:
        if instid is None:
            reply = answer(api.reads.get_many, request, JSON_RENDERER)
        else:
            reply = answer(api.reads.get_single, request, JSON_RENDERER, instid)
        if reply.status != 200:
            raise RuntimeError(f"{key}: {reply.status} {reply.body!r}")
        return bytes(reply.body)

    return one


def main() -> int:
    """Time E1-E4 on the three API sets, interleaved; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=25, help="per endpoint, per round")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a copy of chinook.db)")
    parser.add_argument("--endpoints", nargs="*", default=["E1", "E2", "E3", "E4"])
    args = parser.parse_args()
    url, folder = (args.db, None) if args.db else database_copy()
    engine = open_engine(url)
    managers = {
        "curated": build_api(engine, InlineRunner(), DEFAULT),
        "reflected": build_api(engine, InlineRunner(), reflect_now(engine, Choice(naming="snake"))),
        "reflected+inline": build_api(
            engine, InlineRunner(), reflect_now(engine, Choice(naming="snake", inline_to_many=True))
        ),
    }
    names = list(managers)
    print(f"database: {url}; {args.rounds} rounds of {args.requests} requests per endpoint\n")
    print("| endpoint | " + " | ".join(f"{n} CPU ms" for n in names) + " | reflected/curated | "
          "reflected+inline/curated | same body (reflected, +inline) |")  # fmt: skip
    print("|---|" + "---:|" * (len(names) + 2) + "---|")
    for key in args.endpoints:
        calls = {name: caller(manager, key) for name, manager in managers.items()}
        bodies = {name: call() for name, call in calls.items()}
        for call in calls.values():
            for _ in range(50):  # warm: statement caches, compiled searches
                call()
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                call = calls[name]
                started = time.process_time()
                for _ in range(args.requests):
                    call()
                times[name].append((time.process_time() - started) * 1000 / args.requests)
        medians = {name: statistics.median(values) for name, values in times.items()}
        ratios = {
            name: statistics.median(
                t / c for t, c in zip(times[name], times["curated"], strict=True)
            )
            for name in names
        }
        same = (
            bodies["reflected"] == bodies["curated"],
            bodies["reflected+inline"] == bodies["curated"],
        )
        print(
            f"| {key} | "
            + " | ".join(f"{medians[n]:.3f}" for n in names)
            + f" | {ratios['reflected']:.1%}"
            + f" | {ratios['reflected+inline']:.1%}"
            + f" | {'yes' if same[0] else 'no'}, {'yes' if same[1] else 'no'} |"
        )
    engine.dispose()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
