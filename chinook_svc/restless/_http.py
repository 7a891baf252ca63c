"""Twisted request in, JSON response out: the HTTP edge shared by every Klein app here.

``api_request`` copies what the engine needs out of a Twisted request (on the
reactor thread, cheap); ``write_reply`` puts a :class:`Reply` on the wire;
``add_error_handling`` makes every error a JSON body with the right status and
never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

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
            "Unhandled error on {method} {uri}",
            failure,
            method=_text(request.method),
            uri=_text(request.uri),
        )
        return write_reply(request, json_reply(500, {"message": INTERNAL}))


__all__ = ["JSON", "add_error_handling", "api_request", "base_url", "write_reply"]
