"""Twisted request in, JSON response out: the HTTP edge shared by every Klein app here.

``api_request`` copies what the engine needs out of a Twisted request (on the
reactor thread, cheap); ``write_reply`` puts a :class:`Reply` on the wire;
``add_error_handling`` makes every error a JSON body with the right status and
never a traceback.  :class:`WellFormed` answers a JSON 400 for what Klein
would turn into a 500 HTML page or a ``text/plain`` 400: a ``Host`` header
that is no host name (werkzeug's ``BadHost``), a path that is not UTF-8.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect
from zope.interface import implementer

from chinook_svc.log_context import request_id_of

from ._errors import INTERNAL, ApiError
from ._messages import JSON, ApiRequest, Reply, json_reply

log = Logger()

_Handler = Callable[[IRequest, Failure], Any]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def base_url(request: IRequest) -> str:
    """``scheme://host/path`` of the request, as Flask's ``request.base_url``."""
    scheme = "https" if request.isSecure() else "http"
    host = request.getHeader(b"host")
    if host is None:
        address = request.getHost()
        host = f"{getattr(address, 'host', 'localhost')}:{getattr(address, 'port', 80)}".encode()
    path = request.path
    return f"{scheme}://{_text(host)}{_text(path)}"


#: ``name[:port]``: DNS-style labels of 1 to 63 characters (underscores allowed), an
#: optional final dot; or an ``[IPv6]`` literal.
_HOST = re.compile(
    rb"(?P<name>(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?|\[[0-9A-Fa-f:.]+\])"
    rb"(?::(?P<port>[0-9]{0,5}))?"
)


def valid_host(value: bytes) -> bool:
    """Whether ``value`` is a well-formed ``Host`` header value (RFC 9110 7.2)."""
    match = _HOST.fullmatch(value)
    if match is None or len(match["name"]) > 254:
        return False
    if match["port"] and int(match["port"]) > 65535:
        return False
    name = match["name"]
    if name.startswith(b"["):
        try:
            ipaddress.IPv6Address(name[1:-1].decode("ascii"))
        except ValueError:
            return False
    return True


def request_problem(request: IRequest) -> str | None:
    """Why the request cannot be routed (a bad ``Host``, a non-UTF-8 path), or ``None``."""
    hosts = request.requestHeaders.getRawHeaders(b"host") or []
    if len(hosts) > 1 or (hosts and hosts[0] and not valid_host(hosts[0])):
        return "Bad Host header"
    try:
        for segment in (*request.prepath, *request.postpath):
            segment.decode("utf-8")
    except UnicodeDecodeError:
        return "Non-UTF-8 encoding in URL"
    return None


def body_unread(request: IRequest) -> bool:
    """Whether the HTTP edge left this request's body unread (it has no use for one)."""
    return bool(getattr(request, "body_unread", False))


@implementer(IResource)
class WellFormed:
    """Wraps a resource (a Klein app's, or a tree): a JSON 400 for a request it cannot route.

    Klein answers a bad ``Host`` header with a 500 HTML page and a path that is
    not UTF-8 with a ``text/plain`` 400; this answers both in JSON first.
    """

    def __init__(self, wrapped: IResource) -> None:
        self.wrapped = wrapped
        self.isLeaf = wrapped.isLeaf

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """The wrapped resource's child, or the refusal."""
        problem = request_problem(request)
        if problem is not None:
            return _Refusal(problem)
        return self.wrapped.getChildWithDefault(name, request)

    def render(self, request: IRequest) -> Any:
        """The wrapped resource's rendering, or the refusal."""
        problem = request_problem(request)
        if problem is not None:
            return _Refusal(problem).render(request)
        return self.wrapped.render(request)

    def putChild(self, path: bytes, child: IResource) -> None:
        """Children belong to the wrapped resource."""
        self.wrapped.putChild(path, child)


@implementer(IResource)
class _Refusal:
    """A leaf answering a JSON 400 with ``message``."""

    isLeaf = True

    def __init__(self, message: str) -> None:
        self.message = message

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:
        """Never called for a leaf."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:
        """A refusal has no children."""
        raise NotImplementedError("a refusal has no children")

    def render(self, request: IRequest) -> bytes:
        """The JSON 400."""
        return render_reply(request, json_reply(400, {"message": self.message}))


def api_request(request: IRequest, body: bytes = b"") -> ApiRequest:
    """The plain-data view of a Twisted request the engine works on."""
    args = {_text(k): [_text(v) for v in values] for k, values in (request.args or {}).items()}
    headers = {_text(k).lower(): _text(v[-1]) for k, v in request.requestHeaders.getAllRawHeaders()}
    return ApiRequest(
        method=_text(request.method),
        base_url=base_url(request),
        args=args,
        headers=headers,
        body=body,
    )


def write_reply(request: IRequest, reply: Reply) -> bytes:
    """Set status and headers for ``reply`` and return its body for Klein to write."""
    request.setResponseCode(reply.status)
    for name, value in reply.headers:
        raw = name.encode("latin-1")
        if name.lower() == "vary":
            # Keep what an outer layer varies on (CORS: Origin).
            request.responseHeaders.addRawHeader(raw, value.encode("latin-1", "replace"))
            continue
        request.setHeader(raw, value.encode("latin-1", "replace"))
    if reply.content_type is not None:
        request.setHeader(b"content-type", reply.content_type.encode("ascii"))
    if reply.status not in (204, 304):
        request.setHeader(b"content-length", str(len(reply.body)).encode("ascii"))
    return reply.body


def render_reply(request: IRequest, reply: Reply) -> bytes:
    """:func:`write_reply`, for a resource's ``render``: no body for HEAD, length kept."""
    body = write_reply(request, reply)
    return b"" if request.method == b"HEAD" else body


def _handles(app: Klein, *exceptions: type[Exception]) -> Callable[[_Handler], _Handler]:
    """``app.handle_errors(*exceptions)`` for a ``(request, failure)`` handler.

    Klein calls error handlers of a class-level app (``app = Klein()`` on a
    class, used through an instance) with the instance first; the wrapper
    drops it, so the same handlers serve both kinds of app.
    """

    def register(handler: _Handler) -> _Handler:
        def adapted(*args: Any) -> Any:
            request, failure = args[-2:]
            return handler(request, failure)

        # Klein's types cannot express "either calling convention".
        handle: Any = app.handle_errors(*exceptions)
        handle(adapted)
        return handler

    return register


def add_error_handling(app: Klein) -> None:
    """Register JSON error handlers on a Klein app: specific ones first, catch-all last.

    Works for an app made per instance (``self.app = Klein()``) and for a
    class-level ``app = Klein()`` alike.
    """

    @_handles(app, RequestRedirect)
    def redirect(request: IRequest, failure: Failure) -> bytes:
        error: Any = failure.value
        return write_reply(
            request,
            json_reply(error.code, {"message": "Moved"}, {"Location": error.new_url}),
        )

    @_handles(app, MethodNotAllowed)
    def method_not_allowed(request: IRequest, failure: Failure) -> bytes:
        error: Any = failure.value
        allow = ", ".join(sorted(error.valid_methods or ()))
        return write_reply(
            request, json_reply(405, {"message": "Method not allowed"}, {"Allow": allow})
        )

    @_handles(app, HTTPException)
    def http_error(request: IRequest, failure: Failure) -> bytes:
        error: Any = failure.value
        code = error.code or 500
        message = "Not found" if code == 404 else (error.name or "Error")
        return write_reply(request, json_reply(code, {"message": message}))

    @_handles(app, ApiError)
    def api_error(request: IRequest, failure: Failure) -> bytes:
        error: Any = failure.value
        return write_reply(request, json_reply(error.status, error.body(), error.headers))

    @_handles(app, CancelledError)
    def cancelled(request: IRequest, failure: Failure) -> None:
        # The client went away; there is nobody to answer.
        return None

    @_handles(app, Exception)
    def internal(request: IRequest, failure: Failure) -> bytes:
        log.failure(
            "Unhandled error on {method} {uri} (request {request_id})",
            failure,
            method=_text(request.method),
            uri=_text(request.uri),
            request_id=request_id_of(request),
        )
        return write_reply(request, json_reply(500, {"message": INTERNAL}))


__all__ = [
    "JSON",
    "WellFormed",
    "add_error_handling",
    "api_request",
    "base_url",
    "body_unread",
    "render_reply",
    "request_problem",
    "valid_host",
    "write_reply",
]
