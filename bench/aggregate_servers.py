"""Servers for the aggregate benchmarks, each run in its own process on 127.0.0.1.

``python aggregate_servers.py upstreams N MS``
    Fake upstreams answering every GET after MS milliseconds with a small
    JSON body: N of them each on its own port (``hosts``), and one more port
    answering N paths (``paths``), whose ``/never`` path never answers.
    Prints ``{"hosts": [...], "paths": [...], "never": URL}``.

``python aggregate_servers.py service NAME=URL ...``
    The real ``/aggregate`` endpoint (``AggregateRoutes`` over the shared
    agent from ``make_http_client``, with the default bounds) mounted at
    ``/aggregate`` of a plain ``twisted.web`` root.  Prints ``{"url": ...,
    "pid": ...}``.  Run with ``PYTHONPATH`` pointing at another checkout of
    ``chinook_svc``, it serves that version instead (the benchmarks'
    ``--baseline``).

Both run until killed, with listen backlogs of 1024 (Twisted's default of 50
would add SYN retries to bursts of hundreds of connections).  This is a
script: like ``tap.py`` it may pick the global reactor.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from chinook_svc.aggregate import AggregateRoutes, AggregateSettings, make_http_client

BACKLOG = 1024


class SlowUpstream(Resource):
    """Answers every GET with ``{"upstream": N, "path": ...}`` after a fixed delay."""

    isLeaf = True

    def __init__(self, number: int, delay: float) -> None:
        super().__init__()
        self.number = number
        self.delay = delay

    def render_GET(self, request: Any) -> Any:
        """Answer after the delay (``/never``: never), unless the client left."""
        if request.path == b"/never":
            return NOT_DONE_YET
        body = json.dumps(
            {"upstream": self.number, "path": request.path.decode(), "delay_ms": self.delay * 1e3}
        ).encode()
        call = reactor.callLater(self.delay, self._answer, request, body)
        request.notifyFinish().addErrback(lambda _: call.active() and call.cancel())
        return NOT_DONE_YET

    @staticmethod
    def _answer(request: Any, body: bytes) -> None:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", str(len(body)).encode())
        request.write(body)
        request.finish()


def listen(site: Site) -> int:
    """Listen on an ephemeral 127.0.0.1 port; its number."""
    site.noisy = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1", backlog=BACKLOG)
    return int(port.getHost().port)


def upstreams(count: int, delay_ms: float) -> dict[str, Any]:
    """Start ``count`` upstreams on ports of their own and one with ``count`` paths."""
    delay = delay_ms / 1000.0
    hosts = [
        f"http://127.0.0.1:{listen(Site(SlowUpstream(n, delay)))}/item/{n}" for n in range(count)
    ]
    shared = listen(Site(SlowUpstream(-1, delay)))
    paths = [f"http://127.0.0.1:{shared}/item/{n}" for n in range(count)]
    return {"hosts": hosts, "paths": paths, "never": f"http://127.0.0.1:{shared}/never"}


def service(specs: list[str]) -> dict[str, Any]:
    """Start the aggregate endpoint over ``specs``; its URL and process id."""
    settings = AggregateSettings.from_options(specs)
    agent, _pool = make_http_client(reactor, settings)
    root = Resource()
    root.putChild(b"aggregate", AggregateRoutes(settings, agent, reactor).resource())
    port = listen(Site(root))
    return {"url": f"http://127.0.0.1:{port}/aggregate", "pid": os.getpid()}


def main(argv: list[str]) -> None:
    """Start what ``argv`` asks for, print where it listens, and serve."""
    if argv[:1] == ["upstreams"]:
        info = upstreams(int(argv[1]), float(argv[2]))
    elif argv[:1] == ["service"]:
        info = service(argv[1:])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(info), flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
