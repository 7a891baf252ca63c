"""Round trips to the database server per request, counted on the wire.

    .venv/bin/python bench/round_trips.py [--code CHECKOUT] [--server postgresql+psycopg://postgres@127.0.0.1/test]
        [--requests 300]

Loads the bundled sample into a scratch schema (database, on MariaDB) of
the server, serves bench/compare's E1-E4 in process (no HTTP, no threads)
through ``tests/tcp_proxy.py``, a TCP proxy that counts each time the server
answers a client that sent something, and prints the round trips of one
request (its connection already pooled: the pool's check of the connection
counts) and the in-process time per request.  Run it with another
checkout's code (``--code PATH`` first) to see that checkout's figures.  A figure, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if len(sys.argv) > 2 and sys.argv[1] == "--code":  # another checkout's chinook_svc
    sys.path.insert(0, sys.argv.pop(2))
    sys.argv.pop(1)
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "compare"))

from benchcmp.endpoints import ENDPOINTS  # noqa: E402
from profile_requests import api_request  # noqa: E402

from chinook_svc.models import DEFAULT  # noqa: E402
from chinook_svc.restless import InlineRunner, create_database_engine  # noqa: E402
from chinook_svc.restless._api import answer  # noqa: E402
from chinook_svc.restless._render import JSON_RENDERER as JSON  # noqa: E402
from chinook_svc.web.app import build_api  # noqa: E402
from tests.backends import sample_through_proxy  # noqa: E402
from tests.tcp_proxy import TcpProxy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--requests", type=int, default=300, help="timed per endpoint")
    parser.add_argument("--endpoints", nargs="*", default=["E1", "E2", "E3", "E4"])
    args = parser.parse_args()
    with sample_through_proxy(args.server) as (proxy, url):
        engine = create_database_engine(url, threads=1)
        try:
            report(proxy, engine, args)
        finally:
            engine.dispose()


def one_request(key: str, api: Any, request: Any, instid: str | None) -> None:
    """Answer one request in process; exit if it is not a 200."""
    if instid is None:
        reply = answer(api.reads.get_many, request, JSON)
    else:
        reply = answer(api.reads.get_single, request, JSON, instid)
    if reply.status != 200:
        raise SystemExit(f"{key}: {reply.status} {reply.body!r}")


def report(proxy: TcpProxy, engine: object, args: argparse.Namespace) -> None:
    """Print round trips and in-process milliseconds per endpoint."""
    manager = build_api(engine, InlineRunner(), DEFAULT)  # type: ignore[arg-type]
    apis = {api.options.collection_name: api for api in manager.registry.apis()}
    print(f"server: {args.server}; {args.requests} requests per endpoint, in process\n")
    print("| endpoint | round trips per request | ms per request |")
    print("|---|---:|---:|")
    for key in args.endpoints:
        endpoint = ENDPOINTS[key]
        api = apis[endpoint.collection]
        request, instid = api_request(endpoint)

        one = partial(one_request, key, api, request, instid)
        for _ in range(20):
            one()
        before = proxy.round_trips
        one()
        trips = proxy.round_trips - before
        started = time.perf_counter()
        for _ in range(args.requests):
            one()
        ms = (time.perf_counter() - started) * 1000 / args.requests
        print(f"| {key} {endpoint.title} | {trips} | {ms:.2f} |")


if __name__ == "__main__":
    main()
