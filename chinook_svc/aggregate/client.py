"""One upstream call on a Twisted ``Agent``, bounded in time and size, ending in an ``Outcome``.

The call goes straight to an ``IAgent`` (the service's, or treq's in-memory
``RequestTraversalAgent`` in tests) rather than through treq's ``HTTPClient``:
treq would add what the fan-out must not have (redirects, a cookie jar) and
inflate gzip bodies without a bound.  Here nothing is followed or kept, and
:func:`~chinook_svc.aggregate.body.read_body` inflates within the body cap.

treq's ``timeout=`` only covers the wait for the response headers.
:func:`within` instead bounds the whole call, connect, headers and body, with
a timer on the injected clock that cancels it: cancelling the request closes
its connection, and cancelling the body read closes it too
(:mod:`chinook_svc.aggregate.body`), so nothing is left half-read in the
connection pool.

:func:`make_http_client` builds the one ``Agent`` the service shares, over one
persistent ``HTTPConnectionPool`` that keeps idle connections for reuse and
logs nothing per connection.

Each call carries the ``X-Request-ID`` of the request it is made for
(:mod:`chinook_svc.log_context`), so an upstream's logs can be matched with
this service's.
"""

from __future__ import annotations

import codecs
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
from attrs import define
from hyperlink import DecodedURL
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.error import ConnectError, ConnectingCancelledError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._newclient import (
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse

from chinook_svc.log_context import current_request_id

from .body import ACCEPT_ENCODING, BadEncoding, TooLarge, read_body
from .report import (
    BAD_STATUS,
    CONNECT,
    INTERNAL,
    INVALID,
    TIMEOUT,
    TOO_LARGE,
    Outcome,
    milliseconds,
)
from .settings import AggregateSettings

T = TypeVar("T")

USER_AGENT = b"chinook_svc-aggregate"
#: Seconds an idle upstream connection stays in the pool.
IDLE_SECONDS = 60


class Expired(Exception):
    """:func:`within` cancelled what it waited for because its time ran out."""


def is_cancellation(error: BaseException) -> bool:
    """Whether ``error`` is how a cancelled request ends.

    Cancelling a treq request while it waits for the response fails it with
    ``ResponseNeverReceived([CancelledError])``, not ``CancelledError`` itself.
    """
    if isinstance(error, CancelledError | ConnectingCancelledError):
        return True
    reasons = getattr(error, "reasons", None) or ()  # twisted.web's wrapped failures
    return any(isinstance(r, Failure) and r.check(CancelledError) for r in reasons)


async def within(
    clock: IReactorTime, seconds: float, work: Deferred[T] | Coroutine[Any, Any, T]
) -> T:
    """Await ``work``, cancelling it after ``seconds`` on ``clock``.

    Raises:
        Expired: the time ran out (whatever error the cancelled work ended with).
        CancelledError: the caller itself was cancelled, whatever error the
            cancelled work ended with.
    """
    d: Deferred[T] = ensureDeferred(work)
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        d.cancel()

    timer = clock.callLater(max(seconds, 0.0), expire)
    try:
        return await d
    except Exception as e:
        if expired:
            raise Expired() from None
        if is_cancellation(e) and not isinstance(e, CancelledError):
            raise CancelledError() from e
        raise
    finally:
        if timer.active():
            timer.cancel()


#: Codecs Python knows that are no character set a body can be labelled with
#: (they fail on ordinary text, or are slow on hostile input).
NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})


def _charset(params: str) -> str:
    """The ``charset`` parameter of a content type's parameters, if it is a text encoding."""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            try:
                info = codecs.lookup(value.strip().strip("'\""))
            except LookupError:  # unknown
                return "utf-8"
            # "rot13", "base64": not text encodings; "idna" ...: not character sets
            if not getattr(info, "_is_text_encoding", True) or info.name in NOT_CHARSETS:
                return "utf-8"
            return info.name
    return "utf-8"


def decode_body(content_type: str | None, data: bytes) -> Any:
    """An upstream body as JSON when it is JSON, else as text (``None`` when empty).

    Text is decoded in its ``charset`` when that is a character set Python
    knows, else as UTF-8; undecodable bytes become U+FFFD.  Never raises.
    """
    if not data:
        return None
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return data.decode(_charset(params), "replace")
    except (LookupError, ValueError):  # a codec that fails even with "replace"
        return data.decode("utf-8", "replace")


def _connect_error(error: Exception) -> bool:
    return isinstance(
        error,
        ConnectError
        | DNSLookupError
        | ResponseNeverReceived
        | RequestTransmissionFailed
        | RequestNotSent,
    )


def _reasons(error: ResponseFailed) -> str:
    names = [reason.type.__name__ for reason in error.reasons if reason.type is not None]
    return ", ".join(names) or type(error).__name__


#: The headers of every upstream request.
REQUEST_HEADERS = {
    b"Accept": [b"application/json"],
    b"Accept-Encoding": [ACCEPT_ENCODING],
    b"User-Agent": [USER_AGENT],
}


@define
class UpstreamClient:
    """Makes single upstream calls for the aggregate endpoint.

    Args:
        agent: the HTTP agent (the service's shared one from
            :func:`make_http_client`; treq's ``RequestTraversalAgent`` in tests).
        clock: the clock every deadline runs on.
        max_bytes: the largest body read (raw or inflated).
    """

    _agent: IAgent
    _clock: IReactorTime
    _max_bytes: int

    log = Logger()

    async def call(self, source: str, url: DecodedURL, seconds: float) -> Outcome:
        """GET ``url`` within ``seconds``, and say how it went.

        Never raises, except ``CancelledError`` when the caller is cancelled.
        """
        started = self._clock.seconds()

        def outcome(**kwargs: Any) -> Outcome:
            return Outcome(source, milliseconds(self._clock.seconds() - started), **kwargs)

        try:
            status, content_type, data = await within(self._clock, seconds, self._get(url))
        except CancelledError:
            raise
        except Expired:
            return outcome(error=TIMEOUT, message=f"no complete answer within {seconds:g} s")
        except TooLarge as e:
            return outcome(error=TOO_LARGE, message=str(e))
        except BadEncoding as e:
            return outcome(error=INVALID, message=str(e))
        except Exception as e:
            if _connect_error(e):
                return outcome(error=CONNECT, message=f"could not reach the source ({_name(e)})")
            if isinstance(e, ResponseFailed):
                return outcome(error=INVALID, message=f"broken HTTP response ({_reasons(e)})")
            self.log.failure("Aggregate call to {source} failed", source=source)
            return outcome(error=INTERNAL, message="unexpected error")
        body = decode_body(content_type, data)
        if 200 <= status < 300:
            return outcome(status=status, body=body)
        return outcome(
            status=status, body=body, error=BAD_STATUS, message=f"the source answered {status}"
        )

    async def _get(self, url: DecodedURL) -> tuple[int, str | None, bytes]:
        headers = Headers(REQUEST_HEADERS)
        request_id = current_request_id()
        if request_id is not None:  # the request this call is made for: follow it upstream
            headers.setRawHeaders(b"X-Request-ID", [request_id.encode("ascii")])
        response: IResponse = await self._agent.request(b"GET", request_uri(url), headers)
        data = await read_body(response, self._max_bytes)
        content_types = response.headers.getRawHeaders(b"content-type") or [b""]
        return response.code, content_types[-1].decode("latin-1") or None, data


def request_uri(url: DecodedURL) -> bytes:
    """``url`` as the ASCII URI a request line carries.

    ``to_uri()`` (IDNA for the host, percent-encoding for the rest) costs
    about 0.14 ms; an encoded URL that is already ASCII is already a URI.
    """
    text = url.encoded_url.to_text()
    if not text.isascii():
        text = url.encoded_url.to_uri().to_text()
    return text.encode("ascii")


def _name(error: Exception) -> str:
    if isinstance(error, ResponseFailed):
        return _reasons(error)
    return type(error).__name__


class QuietClientFactory(_HTTP11ClientFactory):
    """The pool's per-connection factory, without its "Starting factory" log lines."""

    noisy = False


def make_http_client(
    reactor: Any, settings: AggregateSettings
) -> tuple[IAgent, HTTPConnectionPool]:
    """The service's upstream agent and its one persistent connection pool.

    Up to ``settings.per_host`` idle connections per upstream host are kept
    for reuse (as many as may be open to one host at once).  The agent follows
    no redirect (a source cannot send the service elsewhere) and keeps no
    cookie (nothing leaks from one client's request into another's).  Close
    the pool's cached connections when the service stops:
    ``pool.closeCachedConnections()``, which :class:`ConnectionPoolService` does.

    Args:
        reactor: the reactor (``IReactorTCP`` and ``IReactorTime``).
        settings: the aggregate settings.
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool._factory = QuietClientFactory  # the pool's only way to pick its factory
    pool.maxPersistentPerHost = settings.per_host
    pool.cachedConnectionTimeout = IDLE_SECONDS
    return Agent(reactor, connectTimeout=settings.timeout, pool=pool), pool


class ConnectionPoolService(Service):
    """Closes the pool's idle upstream connections when the service stops.

    Args:
        pool: the pool from :func:`make_http_client`.
    """

    def __init__(self, pool: HTTPConnectionPool) -> None:
        self._pool = pool

    def stopService(self) -> Deferred[None]:
        """Stop, closing every cached connection (the Deferred fires once they are closed)."""
        super().stopService()
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed
