"""One upstream call (``UpstreamClient``), its deadline and its size cap, in memory.

The upstream is :class:`FakeUpstream` behind treq's ``RequestTraversalAgent``
(what ``StubTreq`` runs on); time is a ``Clock``, advanced by hand, so
deadlines fire exactly and nothing sleeps.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from typing import Any
from unittest import mock

from hyperlink import DecodedURL
from treq.testing import (
    HasHeaders,
    RequestSequence,
    RequestTraversalAgent,
    StringStubbingResource,
)
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, fail
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web._newclient import ResponseFailed
from twisted.web.client import ResponseDone
from twisted.web.resource import EncodingResourceWrapper
from twisted.web.server import GzipEncoderFactory

from chinook_svc.aggregate.body import CappedBody, TooLarge
from chinook_svc.aggregate.client import (
    USER_AGENT,
    Expired,
    UpstreamClient,
    decode_body,
    request_uri,
    within,
)
from chinook_svc.aggregate.report import Outcome
from chinook_svc.aggregate.sources import UrlTemplate

from .aggregate_upstream import FakeUpstream, gzip_bomb

JSON = b"application/json"


class FailingAgent:
    """An HTTP agent whose every request fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def request(self, method: bytes, uri: bytes, *args: Any) -> Deferred[Any]:
        """Fail at once."""
        return fail(self.error)


class UpstreamClientTests(SynchronousTestCase):
    """``UpstreamClient.call`` turns every way a call can end into an ``Outcome``."""

    def setUp(self) -> None:
        """A fake upstream on a clock, a 64 KiB cap and a 2 s timeout."""
        self.clock = Clock()
        self.upstream = FakeUpstream(self.clock)
        self.stub = RequestTraversalAgent(self.upstream)
        self.client = UpstreamClient(self.stub, self.clock, 64 * 1024)

    def call(self, path: str, seconds: float = 2.0) -> Deferred[Outcome]:
        """Start a call of ``path``."""
        url = DecodedURL.from_text("http://upstream.test" + path)
        return ensureDeferred(self.client.call("s", url, seconds))

    def test_json_answer(self) -> None:
        """A JSON answer is a result with its parsed body and no error."""
        outcome = self.successResultOf(self.call("/json?v=1"))
        assert outcome == Outcome("s", 0.0, status=200, body={"path": "/json", "v": "1"})
        assert outcome.ok

    def test_elapsed_time_is_measured_on_the_clock(self) -> None:
        """A 150 ms upstream yields ``elapsed_ms`` 150.0, measured on the injected clock."""
        d = self.call("/json?ms=150")
        self.assertNoResult(d)
        self.clock.advance(0.15)
        self.stub.flush()
        assert self.successResultOf(d).elapsed_ms == 150.0

    def test_text_answer(self) -> None:
        """A non-JSON body comes back as text."""
        outcome = self.successResultOf(self.call("/text"))
        assert (outcome.status, outcome.body, outcome.error) == (200, "plain words", None)

    def test_bad_status_is_a_result_and_an_error(self) -> None:
        """A 5xx answer keeps status and body and is marked ``bad_status``."""
        outcome = self.successResultOf(self.call("/status/503"))
        assert (outcome.status, outcome.body, outcome.error) == (503, {"status": 503}, "bad_status")
        assert outcome.result() == {"status": 503, "elapsed_ms": 0.0, "body": {"status": 503}}
        assert outcome.failure() == {
            "error": "bad_status",
            "elapsed_ms": 0.0,
            "status": 503,
            "message": "the source answered 503",
        }

    def test_redirects_are_not_followed(self) -> None:
        """A redirect is reported as it is, never followed to where it points."""
        outcome = self.successResultOf(self.call("/redirect"))
        assert (outcome.status, outcome.error) == (302, "bad_status")
        assert self.upstream.requests == ["/redirect"]

    def test_declared_length_over_the_cap(self) -> None:
        """A ``Content-Length`` over the cap fails as ``too_large`` without keeping the body."""
        outcome = self.successResultOf(self.call("/bytes/70000"))
        assert (outcome.error, outcome.status, outcome.body) == ("too_large", None, None)
        assert outcome.result() is None

    def test_streamed_body_over_the_cap(self) -> None:
        """A body without ``Content-Length`` is cut once it passes the cap."""
        outcome = self.successResultOf(self.call("/stream/200000"))
        assert outcome.error == "too_large"
        assert "65536 bytes" in (outcome.message or "")

    def test_body_at_the_cap_is_fine(self) -> None:
        """Exactly ``max_bytes`` is allowed."""
        outcome = self.successResultOf(self.call("/stream/65536"))
        assert (outcome.error, len(outcome.body)) == (None, 65536)

    def test_gzip_bodies_are_capped_after_decompression(self) -> None:
        """A gzip body is decoded, and the cap counts decoded bytes (no zip bombs)."""
        gzipped = RequestTraversalAgent(
            EncodingResourceWrapper(self.upstream, [GzipEncoderFactory()])
        )
        client = UpstreamClient(gzipped, self.clock, 64 * 1024)

        def call(path: str) -> Outcome:
            url = DecodedURL.from_text("http://upstream.test" + path)
            return self.successResultOf(ensureDeferred(client.call("s", url, 2.0)))

        assert call("/json?v=z").body == {"path": "/json", "v": "z"}
        bomb = call("/stream/1000000")
        assert bomb.error == "too_large"

    def test_hanging_upstream_is_cut_at_the_deadline(self) -> None:
        """No headers by the deadline: ``timeout`` at exactly 2 s, and the connection is closed."""
        d = self.call("/hang")
        self.clock.advance(1.999)
        self.assertNoResult(d)
        self.clock.advance(0.001)
        outcome = self.successResultOf(d)
        assert (outcome.error, outcome.elapsed_ms) == ("timeout", 2000.0)
        self.stub.flush()
        assert self.upstream.lost == ["/hang"]
        assert self.clock.getDelayedCalls() == []

    def test_stalled_body_is_cut_at_the_deadline(self) -> None:
        """Headers then silence: the body read is cut at the deadline and the connection closed."""
        d = self.call("/stall", seconds=0.5)
        self.stub.flush()
        self.assertNoResult(d)
        self.clock.advance(0.5)
        outcome = self.successResultOf(d)
        assert (outcome.error, outcome.elapsed_ms, outcome.status) == ("timeout", 500.0, None)
        self.stub.flush()
        assert self.upstream.lost == ["/stall"]

    def test_connect_errors(self) -> None:
        """A refused connection is a ``connect`` error."""
        client = UpstreamClient(FailingAgent(ConnectionRefusedError()), self.clock, 10)
        url = DecodedURL.from_text("http://127.0.0.1:9/")
        outcome = self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))
        assert outcome.error == "connect"
        assert "ConnectionRefusedError" in (outcome.message or "")

    def test_failed_dns_lookup_is_a_connect_error(self) -> None:
        """A host name that does not resolve is a ``connect`` error, logged as nothing."""
        error = DNSLookupError("no results for hostname lookup: nowhere.invalid")
        client = UpstreamClient(FailingAgent(error), self.clock, 10)
        url = DecodedURL.from_text("http://nowhere.invalid/")
        outcome = self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))
        assert outcome.error == "connect"
        assert outcome.message == "could not reach the source (DNSLookupError)"
        assert self.flushLoggedErrors() == []

    def test_odd_charset_is_text(self) -> None:
        """An answer labelled ``charset=idna`` or ``undefined`` is text, not an error."""
        for charset in ["idna", "undefined"]:
            outcome = self.successResultOf(self.call(f"/charset/{charset}"))
            assert (outcome.status, outcome.body, outcome.error) == (200, "café", None)

    def test_gzip_bomb_is_too_large_and_never_inflated(self) -> None:
        """A gzip bomb (200 MiB in 200 KB) is ``too_large`` after inflating about the cap only."""
        gzip_bomb()  # made once per session, not measured
        tracemalloc.start()
        try:
            outcome = self.successResultOf(self.call("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (outcome.error, outcome.status) == ("too_large", None)
        # The 200 KB body and a 64 KiB cap: well under 4 MiB, against 200 MiB inflated whole.
        assert peak < 4 << 20, peak

    def test_deflate_and_unknown_codings(self) -> None:
        """``deflate`` bodies are inflated; a coding the client cannot inflate is ``invalid``."""
        packed = zlib.compress(b'{"ok": 1}')
        sequence = RequestSequence(
            [
                ((b"get", "http://up.test/d", {}, mock.ANY, b""),
                 (200, {b"content-encoding": b"deflate", b"content-type": JSON}, packed)),
                ((b"get", "http://up.test/b", {}, mock.ANY, b""),
                 (200, {b"content-encoding": b"br"}, b"\x0b\x02\x80")),
                ((b"get", "http://up.test/t", {}, mock.ANY, b""),
                 (200, {b"content-encoding": b"gzip"}, gzip.compress(b"[1]")[:-6])),
            ]
        )  # fmt: skip
        client = UpstreamClient(
            RequestTraversalAgent(StringStubbingResource(sequence)), Clock(), 99
        )

        def call(path: str) -> Outcome:
            url = DecodedURL.from_text("http://up.test" + path)
            return self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))

        with sequence.consume(self.fail):
            assert call("/d").body == {"ok": 1}
            broken = call("/b")
            truncated = call("/t")
        assert (broken.error, broken.message) == ("invalid", "unsupported Content-Encoding 'br'")
        assert (truncated.error, truncated.message) == ("invalid", "truncated compressed body")

    def test_broken_responses_are_invalid(self) -> None:
        """A response cut short by the network is ``invalid``."""
        error = ResponseFailed([Failure(ValueError("garbage"))])
        client = UpstreamClient(FailingAgent(error), self.clock, 10)
        url = DecodedURL.from_text("http://127.0.0.1:9/")
        outcome = self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))
        assert outcome.error == "invalid"

    def test_unexpected_errors_are_logged_and_internal(self) -> None:
        """A bug is reported as ``internal`` and logged with its traceback, not raised."""
        client = UpstreamClient(FailingAgent(ZeroDivisionError()), self.clock, 10)
        url = DecodedURL.from_text("http://127.0.0.1:9/")
        outcome = self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))
        assert outcome.error == "internal"
        assert len(self.flushLoggedErrors(ZeroDivisionError)) == 1

    def test_cancelling_the_caller_cancels_the_call(self) -> None:
        """Cancelling a call (the client went away) closes the upstream connection and its timer."""
        d = self.call("/hang")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.stub.flush()
        assert self.upstream.lost == ["/hang"]
        assert self.clock.getDelayedCalls() == []


class WireTests(SynchronousTestCase):
    """What goes on the wire for one call, checked with treq's ``RequestSequence``."""

    def test_request_on_the_wire(self) -> None:
        """A GET of the filled URL, values percent-encoded in place, asking for JSON."""
        template = UrlTemplate.parse("http://upstream.test/api/{name}/items?tag={tag}")
        url = template.fill({"name": "a/b c", "tag": "x&y=1"})
        expected = (
            b"get",
            "http://upstream.test/api/a%2Fb%20c/items",
            {b"tag": [b"x&y=1"]},
            HasHeaders({b"accept": [b"application/json"], b"user-agent": [USER_AGENT]}),
            b"",
        )
        sequence = RequestSequence(
            [(expected, (200, {b"content-type": b"application/json"}, b'{"ok": true}'))]
        )
        clock = Clock()
        agent = RequestTraversalAgent(StringStubbingResource(sequence))
        client = UpstreamClient(agent, clock, 1024)
        with sequence.consume(self.fail):
            outcome = self.successResultOf(ensureDeferred(client.call("s", url, 1.0)))
        assert (outcome.status, outcome.body) == (200, {"ok": True})
        assert sequence.consumed()


class WithinTests(SynchronousTestCase):
    """``within`` bounds any awaitable on the injected clock."""

    def test_result_in_time(self) -> None:
        """A result before the deadline is returned and the timer removed."""
        clock = Clock()
        work: Deferred[int] = Deferred()
        d = ensureDeferred(within(clock, 1.0, work))
        work.callback(7)
        assert self.successResultOf(d) == 7
        assert clock.getDelayedCalls() == []

    def test_expiry_cancels_the_work(self) -> None:
        """At the deadline the work is cancelled and ``Expired`` raised, whatever it raised."""
        clock = Clock()
        cancelled = []
        work: Deferred[int] = Deferred(lambda d: cancelled.append(d))
        d = ensureDeferred(within(clock, 1.0, work))
        clock.advance(1.0)
        self.failureResultOf(d, Expired)
        assert cancelled == [work]

    def test_outer_cancel_is_not_expiry(self) -> None:
        """Cancelling the waiter itself raises ``CancelledError``, not ``Expired``."""
        clock = Clock()
        d = ensureDeferred(within(clock, 1.0, Deferred()))
        d.cancel()
        self.failureResultOf(d, CancelledError)
        assert clock.getDelayedCalls() == []


class BodyTests(SynchronousTestCase):
    """``CappedBody`` outside an HTTP client."""

    def test_ignores_data_after_failing(self) -> None:
        """Once over the cap, later data and the connection's end change nothing."""
        body = CappedBody(4, None)
        body.dataReceived(b"12345")
        self.failureResultOf(body.finished, TooLarge)
        body.dataReceived(b"more")
        body.connectionLost(Failure(ResponseDone()))

    def test_collects_up_to_the_cap(self) -> None:
        """Chunks are joined when the body ends normally."""
        body = CappedBody(4, 4)
        body.dataReceived(b"12")
        body.dataReceived(b"34")
        body.connectionLost(Failure(ResponseDone()))
        assert self.successResultOf(body.finished) == b"1234"


def test_decode_body() -> None:
    """JSON when it parses as JSON (any JSON-ish or missing type), else text in its charset."""
    assert decode_body("application/json", b'{"a": 1}') == {"a": 1}
    assert decode_body(None, b"[1, 2]") == [1, 2]
    assert decode_body("application/vnd.api+json", b"3") == 3
    assert decode_body("application/json", b"{not json") == "{not json"
    assert decode_body("text/plain", b"42") == "42"
    assert decode_body("text/plain; charset=latin-1", b"caf\xe9") == "café"
    assert decode_body("text/plain; charset=no-such", b"caf\xc3\xa9") == "café"
    assert decode_body("text/plain; charset=rot13", b"caf\xc3\xa9") == "café"
    assert decode_body("application/json", b"") is None


def test_request_uri() -> None:
    """The request line's URI: ASCII URLs as they are, others percent- and IDNA-encoded."""
    assert (
        request_uri(DecodedURL.from_text("http://h:81/a%2Fb?x=%26")) == b"http://h:81/a%2Fb?x=%26"
    )
    assert request_uri(DecodedURL.from_text("http://h/é?q=ü")) == b"http://h/%C3%A9?q=%C3%BC"
    assert request_uri(DecodedURL.from_text("http://bücher.example/")) == (
        b"http://xn--bcher-kva.example/"
    )


def test_decode_body_never_fails_on_a_charset() -> None:
    """Codecs that are no character set (``idna``, ``undefined`` ...) fall back to UTF-8."""
    for charset in ["idna", "undefined", "punycode", "IDNA", "unicode_escape", "'idna'"]:
        assert decode_body(f"text/plain; charset={charset}", b"caf\xc3\xa9") == "café", charset
    assert decode_body("text/plain; charset=idna", b"a..b") == "a..b"
    assert decode_body("text/plain; charset=utf-16", "hé".encode("utf-16")) == "hé"
