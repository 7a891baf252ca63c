"""CORS: which other origins a browser may let call the service, and with which methods.

:class:`CorsResource` wraps the service's root resource.  For a request
whose ``Origin`` the :class:`CorsPolicy` allows, it

* answers a preflight (``OPTIONS`` with ``Access-Control-Request-Method``)
  itself, before the token guard (browsers send preflights without
  credentials): ``204`` with ``Access-Control-Allow-Origin``, ``-Methods``
  (the methods the service has switched on), ``-Headers`` and ``-Max-Age``;
* adds ``Access-Control-Allow-Origin`` and ``-Expose-Headers`` to the
  answer (``Link``, ``Location``, ``ETag``, ``X-Aggregate-Complete``, ...).

A listed origin is echoed, with ``Access-Control-Allow-Credentials: true``;
``*`` lets every other origin read (``GET``/``HEAD``) and is never sent with
credentials.  An origin not allowed gets no CORS header at all, so the
browser keeps the answer from the page.  Every answer says ``Vary: Origin``.
The headers are set on each request, never stored with a cached answer, so
the response cache cannot hand one origin's headers to another.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import field, frozen
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

READS = frozenset({"GET", "HEAD"})
#: Request headers a page may send (beyond the CORS-safelisted ones).
ALLOW_HEADERS = "Accept, Authorization, Content-Type, If-None-Match, X-Request-ID"
#: Response headers a page may read.
EXPOSE_HEADERS = (
    "ETag, Link, Location, Retry-After, WWW-Authenticate, X-Aggregate-Complete, X-Request-ID"
)
#: Seconds a browser may keep a preflight's answer.
MAX_AGE = 600


def _methods(value: Iterable[str]) -> frozenset[str]:
    return frozenset(m.upper() for m in value) | READS


def _origins(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@frozen
class CorsPolicy:
    """The origins browsers may let call the service.

    Attributes:
        origins: allowed origins (``scheme://host[:port]``), or ``*`` for
            reads from anywhere.
        methods: the methods the service serves (``GET`` and ``HEAD`` always).
    """

    origins: frozenset[str] = field(converter=_origins)
    methods: frozenset[str] = field(default=READS, converter=_methods)

    def allowed(self, origin: str, method: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin`` and ``method``, if any."""
        if origin in self.origins and origin != "*":
            return origin if method in self.methods or method == "OPTIONS" else None
        if "*" in self.origins and method in READS | {"OPTIONS"}:
            return "*"
        return None

    def methods_for(self, allow_origin: str) -> str:
        """``Access-Control-Allow-Methods`` for a preflight from this kind of origin."""
        methods = READS if allow_origin == "*" else self.methods
        return ", ".join(sorted(methods))


def _header(request: IRequest, name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


@implementer(IResource)
class _Preflight:
    """The answer to an allowed preflight."""

    isLeaf = True

    def __init__(self, headers: dict[bytes, bytes]) -> None:
        self._headers = headers

    def render(self, request: IRequest) -> bytes:
        """204 with the CORS headers."""
        request.setResponseCode(204)
        for name, value in self._headers.items():
            request.setHeader(name, value)
        return b""

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """A leaf."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """A leaf."""
        raise NotImplementedError("a preflight answer has no children")


@implementer(IResource)
class CorsResource:
    """``wrapped`` with CORS headers for the origins ``policy`` allows."""

    isLeaf = False

    def __init__(self, wrapped: IResource, policy: CorsPolicy) -> None:
        self._wrapped = wrapped
        self.policy = policy

    def _preflight_or_headers(self, request: IRequest) -> IResource | None:
        """The preflight's answer, or ``None`` after adding the CORS headers of an answer."""
        request.responseHeaders.addRawHeader(b"vary", b"Origin")
        origin = _header(request, b"origin")
        if origin is None:
            return None
        method = request.method.decode("ascii", "replace").upper()
        asked = _header(request, b"access-control-request-method")
        if method == "OPTIONS" and asked is not None:
            allow = self.policy.allowed(origin, asked.strip().upper())
            if allow is None:
                return None
            headers = {
                b"access-control-allow-origin": allow.encode("latin-1"),
                b"access-control-allow-methods": self.policy.methods_for(allow).encode("ascii"),
                b"access-control-allow-headers": ALLOW_HEADERS.encode("ascii"),
                b"access-control-max-age": str(MAX_AGE).encode("ascii"),
            }
            if allow != "*":
                headers[b"access-control-allow-credentials"] = b"true"
            return _Preflight(headers)
        allow = self.policy.allowed(origin, method)
        if allow is not None:
            request.setHeader(b"access-control-allow-origin", allow.encode("latin-1"))
            request.setHeader(b"access-control-expose-headers", EXPOSE_HEADERS.encode("ascii"))
            if allow != "*":
                request.setHeader(b"access-control-allow-credentials", b"true")
        return None

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """The preflight's answer, or the wrapped resource's child (with CORS headers set)."""
        preflight = self._preflight_or_headers(request)
        if preflight is not None:
            return preflight
        return self._wrapped.getChildWithDefault(name, request)

    def render(self, request: IRequest) -> Any:
        """Only reached for the bare mount point: as :meth:`getChildWithDefault`."""
        preflight = self._preflight_or_headers(request)
        if preflight is not None:
            return preflight.render(request)
        return self._wrapped.render(request)

    def putChild(self, path: bytes, child: IResource) -> None:
        """The tree is the wrapped resource's."""
        raise NotImplementedError("CorsResource wraps a fixed tree")


__all__ = [
    "ALLOW_HEADERS",
    "EXPOSE_HEADERS",
    "MAX_AGE",
    "CorsPolicy",
    "CorsResource",
]
