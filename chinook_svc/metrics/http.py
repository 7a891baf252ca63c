"""The HTTP side of the metrics: each request counted by route template, and ``GET /metrics``.

:class:`MeasuredRoot` wraps the service's root resource: every request
``Site`` routes through it is timed from routing to its answer's end and
counted under its **route template** (:func:`route_template`: ``/api/{collection}/{id}``,
never the URL itself, so that the number of series stays bounded; any path
the service does not serve is ``other``), its method and its status
(``499`` when the client went away first).  It also answers ``/metrics`` on
the API's port, unless the metrics are served elsewhere (``--metrics-listen``):
then :func:`admin_root` is the whole of that other site.

:class:`MetricsPage` renders the exposition in a thread of its own (a
scrape of several workers reads their files), after the process's gauges
have been sampled on the reactor thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from chinook_svc.auth import TokenCheck, refuse
from chinook_svc.restless import json_reply, render_reply

from .families import CLIENT_CLOSED, ServiceMetrics

OTHER = "other"
#: The API's URL shapes (``restless``'s routes), by number of segments after ``/api``.
_API = ("/api/{collection}", "/api/{collection}/{id}", "/api/{collection}/{id}/{relation}",
        "/api/{collection}/{id}/{relation}/{relid}")  # fmt: skip
#: Service URLs of one segment.
_SINGLE = {b"": "/", b"healthz": "/healthz", b"openapi.json": "/openapi.json",
           b"docs": "/docs", b"metrics": "/metrics", b"aggregate": "/aggregate"}  # fmt: skip


def route_template(segments: Sequence[bytes]) -> str:
    """The route template of a request path's segments (``[b"api", b"albums", b"3"]``).

    Bounded whatever the path: the values of a URL never become labels, and
    every path the service does not route is :data:`OTHER`.
    """
    count = len(segments)
    if not count:
        return "/"
    first = segments[0]
    if first == b"api" and count > 1 and all(segments[1:]):
        if segments[1] == b"eval" and count == 3:
            return "/api/eval/{collection}"
        return _API[count - 2] if count <= 5 else OTHER
    if count == 1 or (count == 2 and first == b"aggregate" and not segments[1]):
        return _SINGLE.get(first, OTHER)
    if count == 2 and first == b"docs" and segments[1]:
        return "/docs/{asset}"
    return OTHER


@implementer(IResource)
class MeasuredRoot:
    """The root resource, each request counted and timed; ``/metrics`` served if ``page`` is given.

    Args:
        root: the service's root resource.
        metrics: where requests are counted.
        page: ``/metrics`` (``None``: not on this site).
        token: the bearer token ``/metrics`` needs (``None``: none).
        timer: a monotonic clock, in seconds.
    """

    isLeaf = False

    def __init__(
        self,
        root: IResource,
        metrics: ServiceMetrics,
        page: IResource | None = None,
        *,
        token: bytes | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.root = root
        self._metrics = metrics
        self._page = page
        self._check = TokenCheck(token, protect_reads=True)
        self._timer = timer

    def getChildWithDefault(self, name: bytes, request: Any) -> IResource:
        """Start timing the request; route it to ``/metrics`` or to the root."""
        route = route_template([name, *request.postpath])
        request.notifyFinish().addBoth(self._done, request, route, self._timer())
        if route == "/metrics" and self._page is not None:
            if not self._check.allows(request.method, request.requestHeaders):
                return _Refusal()
            return self._page
        child: IResource = self.root.getChildWithDefault(name, request)
        return child

    def _done(self, result: object, request: Any, route: str, started: float) -> None:
        status = request.code if result is None else CLIENT_CLOSED
        method = request.method.decode("ascii", "replace")
        self._metrics.request_done(route, method, status, self._timer() - started)

    def render(self, request: IRequest) -> Any:
        """Not reached (``Site`` always routes one segment); the root's answer."""
        return self.root.render(request)

    def putChild(self, path: bytes, child: IResource) -> None:
        """The tree is the root's."""
        raise NotImplementedError("the measured root has no children of its own")


@implementer(IResource)
class _Leaf:
    """A resource without children."""

    isLeaf = True

    def render(self, request: IRequest) -> bytes | int:
        """What the leaf answers."""
        raise NotImplementedError

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """A leaf: never asked."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """A leaf has no children."""
        raise NotImplementedError


class _Refusal(_Leaf):
    """The JSON 401 of a request without the token."""

    def render(self, request: IRequest) -> bytes:
        """401, ``WWW-Authenticate: Bearer``."""
        return refuse(request)


class _NotFound(_Leaf):
    """A JSON 404 (the admin endpoint serves ``/metrics`` only)."""

    def render(self, request: IRequest) -> bytes:
        """404 ``Not found``."""
        return render_reply(request, json_reply(404, {"message": "Not found"}))


class MetricsPage(_Leaf):
    """``GET /metrics``: the Prometheus text format (OpenMetrics if the scraper asks for it).

    Args:
        registry: what is exposed (this process's families, or the workers' files).
        reactor: delivers the rendered page from the thread.
        pool: renders the page, away from the reactor thread.
        sample: called first, on the reactor thread (sets this process's gauges).
    """

    log = Logger()

    def __init__(
        self,
        registry: CollectorRegistry,
        reactor: Any,
        pool: ThreadPool,
        sample: Callable[[], None] = lambda: None,
    ) -> None:
        self._registry = registry
        self._reactor = reactor
        self._pool = pool
        self._sample = sample

    def render(self, request: IRequest) -> bytes | int:
        """Sample, then render in the pool; 405 for anything but GET and HEAD."""
        if request.method not in (b"GET", b"HEAD"):
            reply = json_reply(405, {"message": "Method not allowed"}, {"Allow": "GET, HEAD"})
            return render_reply(request, reply)
        self._sample()
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        d = deferToThreadPool(self._reactor, self._pool, self.exposition, accept)
        d.addCallbacks(self._write, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return NOT_DONE_YET

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The page and its content type, for an ``Accept`` header (in a thread)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self._registry), content_type

    def _write(self, page: tuple[bytes, str], request: Any) -> None:
        if request._disconnected:
            return
        body, content_type = page
        request.setHeader(b"content-type", content_type.encode("latin-1"))
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(body))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()

    def _failed(self, failure: Failure, request: Any) -> None:
        self.log.failure("Cannot render the metrics", failure)
        if request._disconnected:
            return
        body = render_reply(request, json_reply(500, {"message": "Internal server error"}))
        request.write(body)
        request.finish()


@implementer(IResource)
class _AdminRoot:
    """The admin endpoint's root: ``/metrics``, and a JSON 404 for anything else."""

    isLeaf = False

    def __init__(self, page: IResource) -> None:
        self._page = page

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """``/metrics`` is the page; every other path a 404."""
        return self._page if name == b"metrics" and not request.postpath else _NotFound()

    def render(self, request: IRequest) -> bytes:
        """Not reached; a 404."""
        return _NotFound().render(request)

    def putChild(self, path: bytes, child: IResource) -> None:
        """The tree is fixed."""
        raise NotImplementedError("the admin endpoint serves /metrics only")


def admin_root(page: IResource) -> IResource:
    """The root resource of the admin endpoint (``--metrics-listen``)."""
    return _AdminRoot(page)


__all__ = ["OTHER", "MeasuredRoot", "MetricsPage", "admin_root", "route_template"]
