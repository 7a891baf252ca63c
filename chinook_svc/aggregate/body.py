"""Read an upstream response body with a size cap, decompressing it within the cap.

Twisted's and treq's gzip decoding inflates each received chunk whole: a
200 KB chunk of a gzip bomb becomes 200 MiB at once, before any cap can
look at it.  Here the raw body goes to :class:`CappedBody`, which

* inflates ``gzip``/``deflate`` bodies itself, in bounded steps
  (``zlib`` ``decompress(data, max_length)``), so that no more than the cap
  plus one byte is ever inflated, however the body expands;
* fails with :class:`TooLarge` and closes the connection as soon as the body
  (declared by ``Content-Length``, counted as it arrives, or inflated) passes
  the cap;
* fails with :class:`BadEncoding` for a content coding it does not know or a
  corrupt or truncated compressed body;
* closes the connection when its Deferred is cancelled, which is how the
  caller's deadline stops a body that stalls half way.

A closed connection is never handed back to the connection pool, so nothing
half-read is reused or leaked.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse

#: The ``Accept-Encoding`` the client sends: what :class:`CappedBody` can inflate.
ACCEPT_ENCODING = b"gzip, deflate"

#: Content codings -> ``zlib`` window bits (32 + 15: a gzip or a zlib header, detected).
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


class TooLarge(Exception):
    """An upstream body is larger than the cap.

    Attributes:
        limit: the cap, in bytes.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"body is larger than {limit} bytes")
        self.limit = limit


class BadEncoding(Exception):
    """An upstream body's content coding is unknown, or its compressed data is broken."""


def decoder_for(codings: Sequence[bytes]) -> Any:
    """A ``zlib`` decompress object for ``Content-Encoding`` values (``None``: not encoded).

    Raises:
        BadEncoding: a coding other than ``identity``, ``gzip`` or ``deflate``,
            or more than one of them.
    """
    names = [
        name.strip().lower()
        for value in codings
        for name in value.decode("latin-1").split(",")
        if name.strip() and name.strip().lower() != "identity"
    ]
    if not names:
        return None
    if len(names) > 1 or names[0] not in WBITS:
        raise BadEncoding(f"unsupported Content-Encoding {', '.join(names)[:60]!r}")
    return zlib.decompressobj(WBITS[names[0]])


class CappedBody(Protocol):
    """Collects a response body, inflated if need be, up to ``limit`` bytes into ``finished``.

    Args:
        limit: the largest body kept, raw and inflated alike.
        declared: the ``Content-Length``, if any.
        codings: the ``Content-Encoding`` header values.
    """

    def __init__(self, limit: int, declared: int | None, codings: Sequence[bytes] = ()) -> None:
        self._limit = limit
        self._declared = declared
        self._codings = list(codings)
        self._inflater: Any = None
        self._chunks: list[bytes] = []
        self._received = 0
        self._size = 0
        self.finished: Deferred[bytes] = Deferred(self._cancel)
        self._done = False

    def connectionMade(self) -> None:
        """Refuse a body of an unknown coding, or whose declared length is over the cap."""
        try:
            self._inflater = decoder_for(self._codings)
        except BadEncoding as e:
            self._fail(Failure(e))
            return
        if self._declared is not None and self._declared > self._limit:
            self._fail(Failure(TooLarge(self._limit)))

    def dataReceived(self, data: bytes) -> None:
        """Keep ``data`` (inflated, one bounded step at a time), or stop past the cap."""
        if self._done:
            return
        self._received += len(data)
        if self._received > self._limit:
            self._fail(Failure(TooLarge(self._limit)))
            return
        if self._inflater is None:
            self._keep(data)
            return
        while data and not self._done:
            room = self._limit - self._size + 1  # at least 1: 0 would mean "no bound"
            try:
                self._keep(self._inflater.decompress(data, room))
            except zlib.error as e:
                self._fail(Failure(BadEncoding(f"corrupt compressed body ({e})")))
                return
            data = self._inflater.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            self._fail(Failure(TooLarge(self._limit)))
            return
        if data:
            self._chunks.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        """The body ended: complete, or cut short by the upstream or the network."""
        if self._done:
            return
        if reason is not None and not reason.check(ResponseDone, PotentialDataLoss):
            self._done = True
            self.finished.errback(reason)
            return
        if self._inflater is not None and not self._inflater.eof:
            self._fail(Failure(BadEncoding("truncated compressed body")))
            return
        self._done = True
        self.finished.callback(b"".join(self._chunks))

    def _close(self) -> None:
        self._done = True
        self._chunks = []
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def _fail(self, failure: Failure) -> None:
        self._close()
        self.finished.errback(failure)

    def _cancel(self, finished: Deferred[bytes]) -> None:
        # Deferred.cancel() then fails ``finished`` with CancelledError.
        self._close()


def read_body(response: IResponse, limit: int) -> Deferred[bytes]:
    """The whole body of ``response``, decoded; fails with :class:`TooLarge` past ``limit`` bytes.

    Fails with :class:`BadEncoding` for an unknown content coding or a broken
    compressed body.  Cancelling the returned Deferred closes the connection.
    """
    declared = None if response.length is UNKNOWN_LENGTH else int(response.length)
    codings = response.headers.getRawHeaders(b"content-encoding") or []
    protocol = CappedBody(limit, declared, codings)
    response.deliverBody(protocol)
    return protocol.finished
