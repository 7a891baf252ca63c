"""``python -m tests.aggregate_service TABLE_JSON``: the aggregate endpoint in a process of its own.

For tests that measure the service from outside (its memory, say): the
``[aggregate]`` table is given as JSON, the endpoint (``AggregateRoutes`` over
the shared agent of ``make_http_client``) is served on an ephemeral 127.0.0.1
port, and ``{"url": ..., "pid": ...}`` is printed once it listens.  It runs
until killed; like ``tap.py`` it may pick the global reactor.
"""

from __future__ import annotations

import json
import os
import sys

from twisted.internet import reactor
from twisted.web.server import Site

from chinook_svc.aggregate import AggregateRoutes, AggregateSettings, make_http_client


def main(table_json: str) -> None:
    """Serve the endpoint configured by ``table_json``."""
    settings = AggregateSettings.from_table(json.loads(table_json))
    agent, _pool = make_http_client(reactor, settings)
    site = Site(AggregateRoutes(settings, agent, reactor).resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1", backlog=1024)
    url = f"http://127.0.0.1:{port.getHost().port}/"
    print(json.dumps({"url": url, "pid": os.getpid()}), flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1])
