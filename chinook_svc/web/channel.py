"""The HTTP/1.1 connection of the service: Twisted's parser, bounded and answering in JSON.

:class:`EdgeChannel` is Twisted's ``HTTPChannel`` with the limits of an
:class:`~chinook_svc.web.edge.EdgeLimits` and a
:data:`~chinook_svc.web.edge.BodyPolicy`:

* the request line may be 32 KiB (414 beyond), the headers 16 KiB and 100
  lines (431 beyond); Twisted closed such connections without a word;
* the head of a request must arrive within ``head_timeout`` of its first
  byte (of the connection's opening, for its first request), its body within
  ``body_timeout`` of the end of the head (408; a connection that sent
  nothing is just closed), however steadily the bytes trickle in (the idle
  timeout restarts on every byte, and is what bounds the wait between
  requests of a keep-alive connection);
* as soon as a head has arrived the body policy says how much body will be
  read.  ``None``: the request is handed to the site at once with an empty
  body (:attr:`EdgeRequest.body_unread` set), whatever follows on the
  connection is dropped unread and the connection closes after the answer.
  A number: a larger ``Content-Length`` is a 413 at once, a chunked body is
  a 413 the moment it passes the number; ``100 Continue`` is only sent for a
  body that will be read.  Bodies are kept in memory (never a temporary
  file): the policy bounds them;
* a head whose lines end in a bare LF is a 400 at once (RFC 9112 allows
  refusing it; Twisted's parser would have waited for more);
* every answer the connection gives itself is JSON with ``Connection:
  close`` (Twisted's parser answered an empty 400); after it, the
  connection stops writing, reads and drops what the client still sends
  for ``linger`` seconds (so the client reads the answer rather than a
  reset), then closes.

:class:`EdgeRequest` never sends a ``Server`` header, answers ``*`` and
unexpected errors in JSON, and never parses form bodies.

This relies on Twisted's parser state (``_command``, ``_path``, ``_version``,
``_receivedHeaderSize``, ``_receivedHeaderCount``) and on its bad-request hook
``_respondToBadRequestAndDisconnect``; ``tests/test_edge_http.py`` checks each.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, cast

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, datetimeToString
from twisted.web.server import Request

from chinook_svc.log_context import accept_request_id, request_id_of
from chinook_svc.restless import INTERNAL, json_reply, write_reply

from .edge import BodyPolicy, EdgeLimits, error_bytes


class EdgeChannel(HTTPChannel):
    """One HTTP/1.1 connection, bounded by ``limits``; bodies read as ``body_policy`` says.

    Args:
        limits: sizes and deadlines.
        body_policy: how much body each request may send.
    """

    log = Logger()

    def __init__(self, limits: EdgeLimits, body_policy: BodyPolicy) -> None:
        super().__init__()
        self._limits = limits
        self._body_policy = body_policy
        # Twisted's own size checks stay behind ours, which answer 414/431.
        self.MAX_LENGTH = max(limits.max_request_line, limits.max_header_bytes)
        self.totalHeadersSize = limits.max_request_line + limits.max_header_bytes
        self.maxHeaders = limits.max_headers + 1
        #: Between requests: the next byte starts a request head (and its deadline).
        self._awaiting_request = True
        self._request_line_length = 0
        #: The method of the request being received (from its first line).
        self._method = b""
        self._body_limit: int | None = None
        self._body_received = 0
        #: Whatever arrives from now on is dropped unread.
        self._dropping = False
        #: The connection has answered by itself and is closing.
        self._answered = False
        self._timers: dict[str, IDelayedCall] = {}

    # -- timers ------------------------------------------------------------------------

    def _start(self, name: str, seconds: float) -> None:
        self._stop(name)
        self._timers[name] = self.callLater(seconds, lambda: self._expired(name))

    def _stop(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _expired(self, name: str) -> None:
        del self._timers[name]
        if name == "linger":
            cast(Any, self.transport).abortConnection()
            return
        if self._awaiting_request:
            # A new connection that never sent a byte: nothing to answer.
            self.setTimeout(None)
            self.loseConnection()
            return
        seconds = self._limits.head_timeout if name == "head" else self._limits.body_timeout
        self._answer(408, f"The request {name} did not arrive within {seconds:g} s")

    def timeoutConnection(self) -> None:
        """The idle timeout: silent between requests, a 408 in the middle of one."""
        if self._awaiting_request or self._answered:
            super().timeoutConnection()
        else:
            self._answer(408, "The request stalled")

    # -- receiving ---------------------------------------------------------------------

    def connectionMade(self) -> None:
        """The first request's head deadline runs from the connection's opening."""
        super().connectionMade()
        self._start("head", self._limits.head_timeout)

    def dataReceived(self, data: bytes) -> None:
        """Start the head deadline with a request's first byte; drop input once answered."""
        if self._dropping:
            return
        if self._awaiting_request and data.strip(b"\r\n"):
            self._awaiting_request = False
            if "head" not in self._timers:
                self._start("head", self._limits.head_timeout)
        if self.line_mode and _bare_line_feed(self._buffer + data):
            self._answer(400, "Malformed request: lines of a request head must end in CRLF")
            return
        super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:
        """Body bytes (or pipelined requests), unless input is being dropped."""
        if not self._dropping:
            super().rawDataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        """A line of a request head, within the size limits."""
        if self._answered:
            return
        if self._receivedHeaderSize == 0:
            # The request line (or an empty line before it).
            self._request_line_length = len(line)
            self._method = line.split(b" ", 1)[0]
            if len(line) > self._limits.max_request_line:
                self._answer(414, "Request line too long")
                return
        elif (
            self._receivedHeaderSize - self._request_line_length + len(line)
            > self._limits.max_header_bytes
        ):
            self._answer(431, "Request headers too large")
            return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line longer than any limit, answered before its end arrives."""
        if self._receivedHeaderSize == 0:
            self._method = line.split(b" ", 1)[0]
            self._answer(414, "Request line too long")
        else:
            self._answer(431, "Request headers too large")

    def headerReceived(self, line: bytes) -> bool:
        """One header: at most ``max_headers`` of them, and only transfer codings we know."""
        if self._answered:
            return False
        if self._receivedHeaderCount >= self._limits.max_headers:
            self._answer(431, "Too many request headers")
            return False
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and value.strip().lower() not in (
            b"chunked",
            b"identity",
        ):
            self._answer(501, "Transfer-Encoding not supported (only chunked)")
            return False
        ok: bool = super().headerReceived(line)
        return ok

    def allHeadersReceived(self) -> None:
        """The head is complete: decide what becomes of the body."""
        self._stop("head")
        request = self.requests[-1]
        request.parseCookies()
        self.persistent = self.checkPersistence(request, self._version)
        if self.length == 0:
            request.gotLength(0)
            return
        limit = self._body_policy(self._command, self._path, request.requestHeaders)
        if limit is None:
            # No use for this body: answer now, never read it, close after.
            request.gotLength(0)
            request.body_unread = True
            self.length = 0  # Twisted hands the request over as soon as this returns
            self.persistent = False
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])
            self._dropping = True
            return
        if self.length is not None and self.length > limit:
            self._answer(413, "Request body too large")
            return
        request.gotLength(self.length)
        self._body_limit = limit
        self._body_received = 0
        self._start("body", self._limits.body_timeout)
        expect = request.requestHeaders.getRawHeaders(b"expect")
        if expect and expect[0].lower() == b"100-continue" and self._version == b"HTTP/1.1":
            self._send100Continue()

    def body_chunk(self, data: bytes) -> bool:
        """Whether the request being received may keep ``data`` (413 past the limit)."""
        if self._answered:
            return False
        self._body_received += len(data)
        if self._body_limit is not None and self._body_received > self._body_limit:
            self._answer(413, "Request body too large")
            return False
        return True

    def allContentReceived(self) -> None:
        """The body is complete: hand the request over (unless already answered)."""
        self._stop("body")
        if not self._answered:
            super().allContentReceived()

    def requestDone(self, request: Any) -> None:
        """A response is complete; the next byte starts the next request."""
        self._awaiting_request = True
        super().requestDone(request)

    # -- answering by itself and closing -----------------------------------------------

    def _respondToBadRequestAndDisconnect(self) -> None:
        """Twisted's parser refused the request: a JSON 400 (it sent an empty one)."""
        self._answer(400, "Malformed request")

    def _answer(self, status: int, message: str) -> None:
        """Answer ``status`` in JSON without involving the site, and close."""
        if self._answered:
            return
        self._answered = self._dropping = True
        self.clearLineBuffer()
        self._stop("head")
        self._stop("body")
        self.setTimeout(None)
        with_body = self._method != b"HEAD"
        request = self.requests[-1] if self.requests else None
        given = request.requestHeaders.getRawHeaders(b"x-request-id") if request else None
        request_id = accept_request_id(given)
        cast(Any, self.transport).write(
            error_bytes(status, message, [("X-Request-ID", request_id)], with_body=with_body)
        )
        self.log.debug(
            "Answered {status} by itself: {message} (request {request_id})",
            status=status,
            message=message,
            request_id=request_id,
        )
        self.persistent = False
        self.loseConnection()

    def loseConnection(self) -> None:
        """Close; while the client may still be sending, stop writing and drop its input first."""
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if not self._dropping or half_close is None:
            super().loseConnection()
            return
        cast(Any, self._networkProducer).unregisterProducer()
        half_close()
        if "linger" not in self._timers:
            self._start("linger", self._limits.linger)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        """Cancel every deadline."""
        for name in list(self._timers):
            self._stop(name)
        super().connectionLost(reason)


def _bare_line_feed(pending: bytes) -> bool:
    """Whether the head at the start of ``pending`` has a line ending in a bare LF.

    Only the head is looked at (up to its first empty line): what follows is a
    body, which may hold any bytes.  Twisted's parser splits lines on CRLF
    alone, so such a head would otherwise wait for its deadline.
    """
    end = pending.find(b"\r\n\r\n")
    head = pending if end < 0 else pending[:end]
    start = 0
    while (found := head.find(b"\n", start)) >= 0:
        if found == 0 or head[found - 1] != 0x0D:
            return True
        start = found + 1
    return False


class EdgeRequest(Request):
    """A request of an :class:`EdgeChannel`: body in memory, no ``Server`` header, JSON errors.

    Attributes:
        body_unread: the request came with a body the service has no use
            for, and it was not read (``content`` is empty).
    """

    body_unread = False
    _log = Logger()

    def gotLength(self, length: int | None) -> None:
        """Keep the body in memory: the channel bounds its size."""
        self.content = BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        """Keep ``data`` if the channel accepts it."""
        accept = getattr(self.channel, "body_chunk", None)
        if accept is None or accept(data):
            cast(Any, self.content).write(data)

    def process(self) -> None:
        """Answer ``*`` here; everything else as ``Site`` does."""
        if self.path != b"*":
            super().process()
            return
        self.site = cast(Any, self.channel).site
        self.setHeader(b"date", datetimeToString())
        if self.method == b"OPTIONS":
            self.setHeader(b"content-length", b"0")
            self.finish()
            return
        self._json(405, "Only OPTIONS may ask for *", {"Allow": "OPTIONS"})

    def write(self, data: bytes) -> None:
        """Write, never naming the server software (``Site`` sets ``Server: TwistedWeb/x.y``)."""
        if not self.startedWriting:
            self.responseHeaders.removeHeader(b"server")
        super().write(data)

    def processingFailed(self, reason: Failure) -> Failure:
        """An error escaped the resource: log it, answer a JSON 500 (or abort if started)."""
        self._log.failure(
            "Unhandled error on {method} {uri} (request {request_id})",
            reason,
            method=self.method.decode("ascii", "replace"),
            uri=self.uri.decode("ascii", "replace"),
            request_id=request_id_of(self),
        )
        if self.startedWriting:
            cast(Any, self.channel).transport.abortConnection()
        else:
            self._json(500, INTERNAL)
        return reason

    def _json(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = write_reply(self, json_reply(status, {"message": message}, headers))
        self.write(body)
        self.finish()


__all__ = ["EdgeChannel", "EdgeRequest"]
