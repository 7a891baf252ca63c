"""Servers for ``aggregate_compare.py``, each run in its own process on 127.0.0.1.

``python aggregate_servers.py upstreams N MS``
    N fake upstreams, each on its own port, answering every GET after MS
    milliseconds with a small JSON body.  Prints ``{"urls": [...]}``.

``python aggregate_servers.py service NAME=URL ...``
    The real ``/aggregate`` endpoint (``AggregateRoutes`` with the shared
    client from ``make_http_client``) mounted at ``/aggregate`` of a plain
    ``twisted.web`` root.  Prints ``{"url": ...}``.

Both run until killed.  This is a script: like ``tap.py`` it may pick the
global reactor.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from chinook_svc.aggregate import AggregateRoutes, AggregateSettings, make_http_client


class SlowUpstream(Resource):
    """Answers every GET with ``{"upstream": N}`` after a fixed delay."""

    isLeaf = True

    def __init__(self, number: int, delay: float) -> None:
        super().__init__()
        self.number = number
        self.delay = delay

    def render_GET(self, request: Any) -> Any:
        """Answer after the delay, unless the client left."""
        body = json.dumps({"upstream": self.number, "delay_ms": self.delay * 1000}).encode()
        call = reactor.callLater(self.delay, self._answer, request, body)
        request.notifyFinish().addErrback(lambda _: call.active() and call.cancel())
        return NOT_DONE_YET

    @staticmethod
    def _answer(request: Any, body: bytes) -> None:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", str(len(body)).encode())
        request.write(body)
        request.finish()


def upstreams(count: int, delay_ms: float) -> dict[str, Any]:
    """Start ``count`` slow upstreams; their URLs."""
    urls = []
    for number in range(count):
        site = Site(SlowUpstream(number, delay_ms / 1000.0))
        site.noisy = False
        port = reactor.listenTCP(0, site, interface="127.0.0.1", backlog=128)
        urls.append(f"http://127.0.0.1:{port.getHost().port}/item/{number}")
    return {"urls": urls}


def service(specs: list[str]) -> dict[str, Any]:
    """Start the aggregate endpoint over ``specs``; its URL."""
    settings = AggregateSettings.from_options(specs)
    http, _pool = make_http_client(reactor, settings)
    root = Resource()
    root.putChild(b"aggregate", AggregateRoutes(settings, http, reactor).resource())
    site = Site(root)
    site.noisy = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1", backlog=128)
    return {"url": f"http://127.0.0.1:{port.getHost().port}/aggregate"}


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
