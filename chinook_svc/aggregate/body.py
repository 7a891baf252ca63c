"""Read an upstream response body with a size cap, closing the connection to stop early.

treq's ``content()`` reads whatever arrives, as long as it takes.  Here the
body goes to :class:`CappedBody`, which

* fails with :class:`TooLarge` and closes the connection as soon as the body
  (declared by ``Content-Length`` or counted as it arrives) passes the cap;
* closes the connection when its Deferred is cancelled, which is how the
  caller's deadline stops a body that stalls half way.

A closed connection is never handed back to the connection pool, so nothing
half-read is reused or leaked.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse


class TooLarge(Exception):
    """An upstream body is larger than the cap.

    Attributes:
        limit: the cap, in bytes.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"body is larger than {limit} bytes")
        self.limit = limit


class CappedBody(Protocol):
    """Collects a response body up to ``limit`` bytes into ``finished``."""

    def __init__(self, limit: int, declared: int | None) -> None:
        self._limit = limit
        self._declared = declared
        self._chunks: list[bytes] = []
        self._size = 0
        self.finished: Deferred[bytes] = Deferred(self._cancel)
        self._done = False

    def connectionMade(self) -> None:
        """Refuse a body whose declared length is already over the cap."""
        if self._declared is not None and self._declared > self._limit:
            self._fail(Failure(TooLarge(self._limit)))

    def dataReceived(self, data: bytes) -> None:
        """Keep ``data``, or stop if the body has grown past the cap."""
        if self._done:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._fail(Failure(TooLarge(self._limit)))
            return
        self._chunks.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        """The body ended: complete, or cut short by the upstream or the network."""
        if self._done:
            return
        self._done = True
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self._chunks))
        else:
            self.finished.errback(reason)

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
    """The whole body of ``response``; fails with :class:`TooLarge` past ``limit`` bytes.

    Cancelling the returned Deferred closes the connection.
    """
    declared = None if response.length is UNKNOWN_LENGTH else int(response.length)
    protocol = CappedBody(limit, declared)
    response.deliverBody(protocol)
    return protocol.finished
