"""What the HTTP edge enforces before any route runs: sizes, deadlines, which bodies are read.

:class:`EdgeLimits` bounds a request's head (request line, headers) and the
time its head and its body may take to arrive.  A :data:`BodyPolicy` decides,
as soon as a request's head has arrived, how much body the service will read
for it: ``None`` means the service has no use for a body there, so it is
never read (the request is answered at once and the connection closed
after); a number is the largest body accepted.

:func:`error_bytes` is a complete JSON error response, for the answers the
connection gives itself (the request never reached a resource).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus

from attrs import frozen
from twisted.web.http import datetimeToString
from twisted.web.http_headers import Headers

from chinook_svc.restless import json_reply

KIB = 1024

#: The largest request body read where a policy does not say otherwise.
DEFAULT_MAX_BODY = 1 << 20

#: (method, request target as sent, headers) -> the largest body read, or ``None``: none.
BodyPolicy = Callable[[bytes, bytes, Headers], "int | None"]


#: Default deadlines for a request's head and body, in seconds (settings ``head_timeout``,
#: ``body_timeout``).
HEAD_TIMEOUT = 15.0
BODY_TIMEOUT = 30.0


@frozen
class EdgeLimits:
    """Bounds on one request before the service sees it.

    Attributes:
        head_timeout: seconds from the first byte of a request to the end of
            its headers (408 after).
        body_timeout: seconds from the end of the headers to the end of the
            body (408 after).
        idle_timeout: seconds a connection may stay silent (between requests
            or in the middle of one); restarts on every byte received.
        max_request_line: longest request line, in bytes (414 beyond).  32
            KiB: a ``q`` at its 8 KiB limit fits even when percent-encoding
            triples it.
        max_header_bytes: all header lines together, in bytes (431 beyond).
        max_headers: most header lines (431 beyond).
        linger: after answering a request whose body was not read, seconds
            the connection goes on reading (and dropping) what the client
            still sends, so that the client gets to read the answer rather
            than a connection reset.
    """

    head_timeout: float = HEAD_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    idle_timeout: float = 60.0
    max_request_line: int = 32 * KIB
    max_header_bytes: int = 16 * KIB
    max_headers: int = 100
    linger: float = 2.0


def any_body(max_bytes: int = DEFAULT_MAX_BODY) -> BodyPolicy:
    """A policy reading a body of up to ``max_bytes`` for every request."""

    def policy(method: bytes, target: bytes, headers: Headers) -> int | None:
        return max_bytes

    return policy


def error_bytes(
    status: int, message: str, headers: Iterable[tuple[str, str]] = (), with_body: bool = True
) -> bytes:
    """A whole ``HTTP/1.1`` JSON error response that closes the connection.

    Args:
        status: the status code.
        message: the ``message`` of the JSON body.
        headers: more headers.
        with_body: ``False`` for an answer to HEAD (headers only).
    """
    reply = json_reply(status, {"message": message})
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode("ascii"),
        b"Date: " + datetimeToString(),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(reply.body),
        b"Connection: close",
        *(f"{name}: {value}".encode("latin-1") for name, value in headers),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (reply.body if with_body else b"")


__all__ = ["DEFAULT_MAX_BODY", "BodyPolicy", "EdgeLimits", "any_body", "error_bytes"]
