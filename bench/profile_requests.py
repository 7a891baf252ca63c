"""Where one request's time goes: the engine's hot paths under cProfile.

    .venv/bin/python bench/profile_requests.py [--requests 2000] [--db PATH] [--top 15]

Serves E1-E5 (bench/compare's endpoints) with the service's own API set-up
(``build_api``: every Chinook table, read-only, functions on, tracks kept out
of albums) over a private copy of the reference ``chinook.db`` (or the
embedded sample), in-process and without HTTP: the runner is inline, so what
is timed is query parsing, SQL, row fetching, object building and JSON.
For each endpoint it prints the mean time per request without the profiler,
the SQL statements per request, and then, with cProfile on, where the time
went, grouped by layer, and the functions that spent most of it.

The HTTP layer (Twisted's parsing and writing, Klein's routing) is outside
this picture; profile the running server for it, for example
``py-spy top --pid <worker pid>`` under ``bench/serve_bench.py``'s load.
A figure, not a test: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import event

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import ApiRequest, InlineRunner
from chinook_svc.restless._api import answer
from chinook_svc.restless._render import JSON_RENDERER as JSON
from chinook_svc.web.app import build_api

sys.path.insert(0, str(Path(__file__).resolve().parent / "compare"))
from benchcmp.endpoints import ENDPOINTS, Endpoint  # bench/compare's E1-E5
from serve_bench import REFERENCE

BASE = "http://127.0.0.1:8080/api/"


def api_request(endpoint: Endpoint) -> tuple[ApiRequest, str | None]:
    """The engine's view of one of bench/compare's requests, and its instance id."""
    instid = None if endpoint.instance is None else str(endpoint.instance)
    args = {}
    if endpoint.q is not None:
        args["q"] = [endpoint.q]
    if endpoint.page is not None:
        args["page"] = [str(endpoint.page)]
    url = BASE + endpoint.collection + ("" if instid is None else f"/{instid}")
    return ApiRequest("GET", url, args), instid


#: layer name -> path fragments of the files whose own time counts for it
LAYERS = [
    ("sqlite3 (the database itself)", ("sqlite3", "_sqlite3")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("chinook_svc.restless (query language, statements, objects)", ("chinook_svc",)),
    ("JSON encoding", ("orjson", "json")),
]


def layer_of(filename: str, function: str) -> str:
    text = f"{filename}:{function}"
    for layer, fragments in LAYERS:
        if any(fragment in text for fragment in fragments):
            return layer
    return "other (Python built-ins, attrs, datetime ...)"


def database_copy() -> tuple[str, Path]:
    """A private copy of the reference file, else the embedded sample materialised."""
    folder = Path(tempfile.mkdtemp(prefix="chinook-profile-"))
    target = folder / "chinook.db"
    if REFERENCE.exists():
        shutil.copyfile(REFERENCE, target)
    else:
        from chinook_svc.sample import ensure_sample_database

        return ensure_sample_database(target), folder
    return f"sqlite:///{target}", folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint")
    parser.add_argument("--db", help="SQLAlchemy URL (default: a copy of chinook.db)")
    parser.add_argument("--top", type=int, default=12, help="functions listed per endpoint")
    parser.add_argument("--endpoints", nargs="*", default=list(ENDPOINTS))
    args = parser.parse_args()
    folder = None
    url = args.db
    if url is None:
        url, folder = database_copy()
    engine = open_engine(url)
    statements = [0]
    event.listen(
        engine,
        "before_cursor_execute",
        lambda *a, **k: statements.__setitem__(0, statements[0] + 1),
    )
    manager = build_api(engine, InlineRunner(), DEFAULT)
    apis = {api.options.collection_name: api for api in manager.registry.apis()}
    print(f"database: {url}; {args.requests} requests per endpoint\n")
    print("| endpoint | ms per request (no profiler) | SQL statements per request |")
    print("|---|---:|---:|")
    profiles = {}
    for name in args.endpoints:
        api = apis[ENDPOINTS[name].collection]
        request, instid = api_request(ENDPOINTS[name])

        def one(api=api, request=request, instid=instid):  # type: ignore[no-untyped-def]
            if instid is None:
                reply = answer(api.reads.get_many, request, JSON)
            else:
                reply = answer(api.reads.get_single, request, JSON, instid)
            assert reply.status == 200, reply.body
            return reply

        for _ in range(50):  # warm: statement caches, compiled searches
            one()
        statements[0] = 0
        started = time.perf_counter()
        for _ in range(args.requests):
            one()
        per_request = (time.perf_counter() - started) * 1000 / args.requests
        print(f"| {name} | {per_request:.3f} | {statements[0] / args.requests:g} |")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            one()
        profile.disable()
        profiles[name] = profile
    for name, profile in profiles.items():
        stats = pstats.Stats(profile)
        total = stats.total_tt  # type: ignore[attr-defined]
        by_layer: dict[str, float] = defaultdict(float)
        rows = []
        for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            by_layer[layer_of(filename, function)] += tottime
            rows.append((tottime, f"{Path(filename).name}:{function}"))
        print(f"\n{name} {ENDPOINTS[name].title}: own time by layer (under cProfile)")
        for layer, seconds in sorted(by_layer.items(), key=lambda item: -item[1]):
            print(f"  {seconds / total:6.1%}  {layer}")
        print(f"  top {args.top} functions by own time:")
        for tottime, where in sorted(rows, reverse=True)[: args.top]:
            print(f"  {tottime / total:6.1%}  {where}")
    engine.dispose()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
