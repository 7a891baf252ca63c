"""Serve chinook_svc's API in one plain process, for benchmarks that need a knob twistd lacks.

Usage::

    python chinook_launcher.py --port 8101 --db sqlite:////path/chinook.db
    python chinook_launcher.py --port 8101 --db ... --runner inline     # measurement only

The API is the service's own (``chinook_svc.web.app.build_api``: every Chinook
table, read-only, ``allow_functions=True``, tracks kept out of albums, genres,
media types and playlists) on the engine the service opens
(``chinook_svc.database.open_engine``), served under ``/api`` by a plain
``Site`` on 127.0.0.1.  ``bench/compare`` uses it when ``twistd --help`` does
not list ``chinook``; ``bench/thread_hop.py`` uses ``--runner`` to compare
database calls in the thread pool (the service's way) with database calls
on the reactor thread, which blocks it and is never how the service runs.
"""

from __future__ import annotations

import argparse
import sys

from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Site

from chinook_svc.database import open_engine
from chinook_svc.models import DEFAULT
from chinook_svc.restless import InlineRunner, Runner, ThreadPoolRunner
from chinook_svc.web.app import build_api


def make_runner(kind: str, threads: int) -> Runner:
    """The service's thread-pool runner (started and stopped with the reactor), or inline."""
    if kind == "inline":
        return InlineRunner()
    pool = ThreadPool(minthreads=threads, maxthreads=threads, name="chinook-db")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    return ThreadPoolRunner(reactor, pool)


def main() -> None:
    """Parse the options, build the API and run the reactor."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL")
    parser.add_argument("--runner", choices=["threads", "inline"], default="threads")
    parser.add_argument("--threads", type=int, default=5, help="thread pool size")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval (seconds)")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    engine = open_engine(args.db, pool_size=args.threads)
    manager = build_api(engine, make_runner(args.runner, args.threads), DEFAULT)
    root = Resource()
    root.putChild(b"api", manager.resource())
    site = Site(root)
    site.displayTracebacks = False
    reactor.listenTCP(args.port, site, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
