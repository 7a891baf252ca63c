"""Refuse a read the database runner has no room for, before routing it.

Under overload most requests are refused, and a client that ignores
``Retry-After`` sends its next one at once, so the cost of a refusal decides
how much of the reactor is left for everybody else.  The runner would refuse
such a request anyway (``restless.Overloaded``), but only after Klein has
routed it and the engine has copied it: more than half of the reactor's time
per refusal.  :class:`AdmissionGate` stands in front of the API, estimates the
request's cost from its URL alone (``restless.url_cost``) and, when that
cost's lane is full, answers the same 503 JSON from a prepared body.

Then it enforces the ``Retry-After`` it sent: the refused client's connection
is not read from for ``pause`` seconds (doubling, up to 8 s, while the
refusals on it go on), so a client that asks again at once
waits for its next answer instead of making the reactor spin on refusals
(each refusal costs reactor time, and with database threads busy in Python,
several waits for the interpreter lock).  The 503 itself leaves at once, and
a new connection is served as usual.  Requests relayed by a proxy
(``X-Forwarded-For``, ``Forwarded``, ``Via``) are not paused: the proxy's
connection carries other clients' requests too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

from chinook_svc.restless import Cost, Overloaded, json_reply, url_cost, write_reply

_OVERLOADED = Overloaded()
_REPLY = json_reply(_OVERLOADED.status, _OVERLOADED.body(), _OVERLOADED.headers)
#: Seconds a refused connection is left unread (``Retry-After``, enforced), doubling with
#: each refusal in a row on that connection up to ``MAX_PAUSE``.
PAUSE = 1.0
MAX_PAUSE = 8.0
#: Headers of a request relayed by a proxy, whose connection carries other clients' requests.
_PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"via")
#: Methods refused at the gate: reads (writes go through their own lane and are refused there).
_READS = frozenset({b"GET", b"HEAD"})


@runtime_checkable
class Admits(Protocol):
    """A runner that can say at once that it would refuse a call (``ThreadPoolRunner``)."""

    def refuse_now(self, cost: Cost) -> bool:
        """Whether a call of ``cost`` would be refused now (then counted as refused)."""


def _arg(request: IRequest, name: bytes) -> str | None:
    values = (request.args or {}).get(name)
    return values[0].decode("utf-8", "replace") if values else None


@implementer(IResource)
class _Refusal:
    """Writes the prepared 503, then reads nothing more from that connection for a while.

    The pause doubles with each refusal in a row on the same connection (a
    client that keeps ignoring ``Retry-After``), up to ``MAX_PAUSE``; a request
    let through on it starts again from ``pause``.
    """

    isLeaf = True

    def __init__(self, clock: IReactorTime, pause: float) -> None:
        self._clock = clock
        self._pause = pause
        self._strikes: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def render(self, request: IRequest) -> bytes:
        """503 ``Server overloaded``, ``Retry-After: 1``."""
        transport = getattr(request, "transport", None)
        finished = getattr(request, "notifyFinish", None)
        proxied = any(request.getHeader(name) is not None for name in _PROXY_HEADERS)
        if self._pause > 0 and transport is not None and finished is not None and not proxied:
            strikes = self._strikes[transport] = self._strikes.get(transport, 0) + 1
            pause = min(self._pause * 2 ** (strikes - 1), MAX_PAUSE)
            finished().addCallbacks(lambda _: self._hold(transport, pause), lambda _: None)
        return write_reply(request, _REPLY)

    def admitted(self, request: IRequest) -> None:
        """A request on this connection was let through: its next refusal pauses briefly."""
        if self._strikes:
            self._strikes.pop(getattr(request, "transport", None), None)

    def _hold(self, transport: Any, pause: float) -> None:
        """Stop reading the connection for ``pause`` seconds (its next request waits)."""
        if not getattr(transport, "connected", False):
            return
        transport.pauseProducing()
        self._clock.callLater(pause, _resume, transport)

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """A leaf: never asked."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """A leaf has no children."""
        raise NotImplementedError


def _resume(transport: Any) -> None:
    if getattr(transport, "connected", False) and not getattr(transport, "disconnecting", False):
        transport.resumeProducing()


@implementer(IResource)
class AdmissionGate:
    """Passes requests to ``api`` unless the runner would refuse them; then answers 503 itself.

    Args:
        api: the API's resource (a leaf, such as a Klein app, or a tree).
        runner: the read runner.
        clock: times the pause.
        pause: seconds a refused client's connection is not read from
            (its ``Retry-After``, enforced; 0: none).
        authorised: whether the API's token check lets a request through
            (``None``: every request); a request it would refuse is left to
            the API (its 401), never refused or counted here.
    """

    isLeaf = False

    def __init__(
        self,
        api: IResource,
        runner: Admits,
        clock: IReactorTime,
        pause: float = PAUSE,
        *,
        authorised: Callable[[IRequest], bool] | None = None,
    ) -> None:
        self._api = api
        self._runner = runner
        self._refusal = _Refusal(clock, pause)
        self._authorised = authorised

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """The prepared 503 when the request's lane is full, else the API."""
        if request.method in _READS and (self._authorised is None or self._authorised(request)):
            rest = [segment.decode("utf-8", "replace") for segment in request.postpath]
            cost = url_cost(
                name.decode("utf-8", "replace"),
                rest,
                _arg(request, b"q"),
                _arg(request, b"results_per_page"),
            )
            if self._runner.refuse_now(cost):
                return self._refusal
            self._refusal.admitted(request)
        if getattr(self._api, "isLeaf", False):
            # A leaf renders the whole remaining path: give back the segment Site consumed.
            request.postpath.insert(0, request.prepath.pop())
            return self._api
        child: IResource = self._api.getChildWithDefault(name, request)
        return child

    def putChild(self, path: bytes, child: IResource) -> None:
        """The API's tree is its own."""
        raise NotImplementedError("the admission gate has no children of its own")

    def render(self, request: IRequest) -> Any:
        """The bare mount point: the API's."""
        return self._api.render(request)


__all__ = ["AdmissionGate", "Admits"]
