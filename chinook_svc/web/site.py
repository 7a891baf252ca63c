"""The service's ``Site``: bounded connections, and a count of the requests being served.

``TrackingSite`` speaks HTTP/1.1 through an
:class:`~chinook_svc.web.channel.EdgeChannel` (the limits and deadlines of an
:class:`~chinook_svc.web.edge.EdgeLimits`, bodies read only as its body
policy says, errors in JSON), never shows tracebacks to clients
(``displayTracebacks`` is off whatever the settings say), never parses form
bodies, and reports every request to an :class:`InFlight` counter, whose
:meth:`~InFlight.wait` fires once no request is left, or after an upper
bound.

A finished answer may still sit in its connection's write buffer, and the
reactor drops those buffers when it stops.  So while :meth:`~InFlight.wait`
waits, each request that finishes has its connection closed once the answer
is written (``loseConnection`` writes first), and counts until then.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from .access_log import CLIENT_GONE, AccessLog
from .channel import EdgeChannel
from .edge import BodyPolicy, EdgeLimits, any_body
from .request_id import TracedRequest


class InFlight:
    """Counts requests being served; tells when none is left."""

    log = Logger()

    #: Seconds between looks at connections closing while draining.
    POLL_SECONDS = 0.01

    def __init__(self) -> None:
        self.count = 0
        self._waiting: list[tuple[Deferred[bool], IDelayedCall]] = []
        self._clock: IReactorTime | None = None
        self._closing: list[Any] = []  # transports writing out an answer before closing
        self._poll: IDelayedCall | None = None

    def started(self, request: Request) -> None:
        """Count ``request`` until it finishes (and, while draining, is written out)."""
        self.count += 1
        request.notifyFinish().addBoth(self._finished, request.channel)

    def _finished(self, result: object, channel: Any) -> None:
        transport = getattr(channel, "transport", None)
        if result is None and self._waiting and transport is not None:
            # Draining: close this connection once the answer is written, and wait for that.
            channel.loseConnection()
            self._closing.append(transport)
        self.count -= 1
        self._check()

    def _check(self) -> None:
        self._closing = [t for t in self._closing if getattr(t, "connected", False)]
        if self._closing and self._waiting:
            if self._poll is None and self._clock is not None:
                self._poll = self._clock.callLater(self.POLL_SECONDS, self._polled)
            return
        if self.count == 0:
            waiting, self._waiting = self._waiting, []
            for d, timer in waiting:
                timer.cancel()
                d.callback(True)

    def _polled(self) -> None:
        self._poll = None
        self._check()

    def wait(self, clock: IReactorTime, timeout: float) -> Deferred[bool]:
        """Fire with ``True`` once no request is in flight, ``False`` after ``timeout`` seconds."""
        if self.count == 0:
            return succeed(True)
        d: Deferred[bool] = Deferred()
        self._clock = clock
        self.log.info("Waiting for {count} request(s) to finish", count=self.count)

        def give_up() -> None:
            self._waiting = [(w, t) for w, t in self._waiting if w is not d]
            if not self._waiting and self._poll is not None:
                self._poll.cancel()
                self._poll = None
            self.log.warn(
                "Stopping with {count} request(s) unfinished after {timeout}s",
                count=self.count,
                timeout=timeout,
            )
            d.callback(False)

        self._waiting.append((d, clock.callLater(timeout, give_up)))
        return d


class TrackingSite(Site):
    """A ``Site`` of bounded connections reporting each request to an :class:`InFlight`.

    Args:
        resource: the root resource.
        in_flight: the counter.
        reactor: the reactor of the HTTP channels (timeouts, log timestamps).
        verbose: also log each request's status and duration (``--debug``).
        access_log: where each answered request's line goes
            (:mod:`chinook_svc.web.access_log`); ``None``: nowhere.
        limits: sizes and deadlines of each request.
        body_policy: how much body each request may send (default: up to
            1 MiB for any request).
    """

    displayTracebacks = False
    requestFactory = TracedRequest
    #: ``Site.log`` is the access log; this one tells request timings.
    timing_log = Logger()

    def __init__(
        self,
        resource: IResource,
        in_flight: InFlight,
        *,
        reactor: Any,
        verbose: bool = False,
        access_log: AccessLog | None = None,
        limits: EdgeLimits | None = None,
        body_policy: BodyPolicy | None = None,
    ) -> None:
        self.limits = limits if limits is not None else EdgeLimits()
        super().__init__(
            resource,
            reactor=reactor,
            timeout=self.limits.idle_timeout,
            parsePOSTFormSubmission=False,
        )
        self.body_policy = body_policy if body_policy is not None else any_body()
        self.access_log = access_log
        self.in_flight = in_flight
        self.verbose = verbose
        self._clock: IReactorTime = reactor

    def protocol(self) -> EdgeChannel:  # type: ignore[override]
        """A new connection's channel (``buildProtocol`` wires it to this site)."""
        return EdgeChannel(self.limits, self.body_policy)

    def acceptableProtocols(self) -> list[bytes]:
        """HTTP/1.1 only: the edge's limits are those of the HTTP/1.1 channel."""
        return [b"http/1.1"]

    def log(self, request: http.Request) -> None:
        """Write the access-log line, if an access log was asked for."""
        if self.access_log is not None:
            self.access_log.log(request)

    def getResourceFor(self, request: Request) -> IResource:
        """Count the request, then look its resource up as ``Site`` does."""
        self.in_flight.started(request)
        if self.access_log is not None:
            request.notifyFinish().addErrback(self._client_gone, request)
        if self.verbose:
            started = self._clock.seconds()
            request.notifyFinish().addBoth(self._log_request, request, started)
        return super().getResourceFor(request)

    def _client_gone(self, reason: object, request: Request) -> None:
        """The client went away before the answer was complete: a 499 access line."""
        if self.access_log is not None:
            self.access_log.log(request, CLIENT_GONE)

    def _log_request(self, result: object, request: Request, started: float) -> None:
        self.timing_log.debug(
            "{method} {uri} -> {code} in {ms:.1f} ms{lost}",
            method=request.method.decode("ascii", "replace"),
            uri=request.uri.decode("ascii", "replace"),
            code=request.code,
            ms=(self._clock.seconds() - started) * 1000,
            lost="" if result is None else " (connection lost)",
        )


__all__ = ["InFlight", "TrackingSite"]
