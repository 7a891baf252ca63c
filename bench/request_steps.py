"""Where one request's time goes, step by step: count, page, each relation batch, objects, JSON.

    .venv/bin/python bench/request_steps.py [--endpoint E3] [--requests 1000]
        [--db URL | --load-postgres URL]

Serves one of bench/compare's endpoints (default E3: tracks of genre 1 by
name, page 3, every relation inlined) in process, without HTTP or threads,
with the service's own API set-up (``build_api``), and times each step of the
engine's work with wrappers around its methods: the count, the page query,
each relation's batch (``RelationLoader.for_parents``; on PostgreSQL the
count with the page, and all the batches, each in one round trip), the
objects built from the rows, and the JSON encoding; and the process's CPU
time per request (on a loaded machine wall-clock times follow the load, CPU
time much less).  No statement listener is installed (one would push
execution off the engine's prepared-statement path).  Round trips:
``bench/round_trips.py``.  A figure, not a test: it prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import InlineRunner, _serialize
from chinook_svc.restless._api import answer
from chinook_svc.restless._render import JSON_RENDERER as JSON
from chinook_svc.web.app import build_api

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_requests import api_request, database_copy
from serve_bench import drop_postgres, load_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent / "compare"))
from benchcmp.endpoints import ENDPOINTS


def timed(spent: dict[str, float], label: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``f``, adding the seconds each call takes to ``spent[label]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="E3", choices=sorted(ENDPOINTS))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a copy of chinook.db)")
    parser.add_argument("--load-postgres", metavar="URL", help="load the sample into a schema")
    args = parser.parse_args()
    folder = schema = None
    url = args.db
    if args.load_postgres:
        schema, url = load_postgres(args.load_postgres)
    elif url is None:
        url, folder = database_copy()
    engine = open_engine(url)
    try:
        run(engine, args)
    finally:
        engine.dispose()
        if schema is not None:
            drop_postgres(args.load_postgres, schema)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def run(engine: Any, args: argparse.Namespace) -> None:
    """Time the endpoint's steps and print them."""
    manager = build_api(engine, InlineRunner(), DEFAULT)
    endpoint = ENDPOINTS[args.endpoint]
    api = next(
        a for a in manager.registry.apis() if a.options.collection_name == endpoint.collection
    )
    request, instid = api_request(endpoint)
    c = api.collection
    spent: dict[str, float] = defaultdict(float)
    c.search.count = timed(spent, "count query", c.search.count)  # type: ignore[method-assign]
    c.search.rows = timed(spent, "page query", c.search.rows)  # type: ignore[method-assign]
    c.search.by_key = timed(spent, "row by key", c.search.by_key)  # type: ignore[method-assign]
    together = getattr(c.search, "count_and_rows", None)
    if together is not None:  # count and page in one round trip (where the driver pipelines)

        def count_and_rows(*args: Any) -> Any:
            both = together(*args)
            return None if both is None else timed(spent, "count + page query, together", both)

        c.search.count_and_rows = count_and_rows
    batches = getattr(c.objects, "_together", None)
    if batches is not None:  # every relation's batch in one round trip (idem)
        label = "relation batches, together (empty where not pipelined)"
        c.objects._together = timed(spent, label, batches)
    for name, _ in c.shape.relations:
        loader = c.objects.relation(c.info.relations[name])
        label = f"relation batch: {name}"
        loader.for_parents = timed(spent, label, loader.for_parents)  # type: ignore[method-assign]
    c.objects.build = timed(spent, "objects (build, incl. relation batches)", c.objects.build)  # type: ignore[method-assign]
    encode = _serialize.encode
    _serialize.encode = timed(spent, "JSON encoding", encode)
    import chinook_svc.restless._messages as messages

    messages_encode = getattr(messages, "encode", None)
    if messages_encode is not None:
        messages.encode = _serialize.encode

    def one() -> Any:
        if instid is None:
            return answer(api.reads.get_many, request, JSON)
        return answer(api.reads.get_single, request, JSON, instid)

    for _ in range(50):
        reply = one()
        assert reply.status == 200, reply.body
    spent.clear()
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(args.requests):
        one()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    n = args.requests
    print(f"database: {engine.dialect.name}; {endpoint.key} {endpoint.title}; {n} requests; "
          f"body {len(reply.body)} bytes")  # fmt: skip
    print("| step | ms per request | share |")
    print("|---|---:|---:|")
    print(f"| whole request (answer: handler + rendering) | {total * 1000 / n:.3f} | 100% |")
    print(f"| (this process's CPU time per request) | {cpu * 1000 / n:.3f} | |")
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"| {label} | {seconds * 1000 / n:.3f} | {seconds / total:.0%} |")
    _serialize.encode = encode
    if messages_encode is not None:
        messages.encode = messages_encode


if __name__ == "__main__":
    main()
