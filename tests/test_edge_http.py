"""The HTTP edge in memory: what reaches the service's socket, byte for byte.

Each test writes raw request bytes into a ``TrackingSite`` serving a
``ChinookApp`` over a tiny SQLite database (database calls inline, time a
``Clock``) and reads back the bytes the server wrote, so that what a real
client sees is checked: parser errors, hostile ``Host`` headers, oversized
heads and bodies, deadlines, and that every error body is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import Clock
from twisted.web.resource import Resource
from twisted.web.server import Request

from chinook_svc.database import open_engine
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import ChinookApp
from chinook_svc.web.site import EdgeLimits, InFlight, TrackingSite

from .edge_support import Wire, request_bytes
from .service_support import make_tiny_chinook

TOKEN = "edge-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
LIMITS = EdgeLimits(head_timeout=10.0, body_timeout=20.0, idle_timeout=60.0)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny Chinook database, shared by the module (writes add genres only)."""
    engine = open_engine(
        make_tiny_chinook(tmp_path_factory.mktemp("edge") / "tiny.db"), writes=True
    )
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def apps(database: Any) -> dict[str, ChinookApp]:
    """The app with writes on (behind the token), read-only, and with --auth-reads."""
    clock = Clock()
    token = TOKEN.encode()
    return {
        "writable": ChinookApp(database, InlineRunner(), clock, allow_writes=True, token=token),
        "read_only": ChinookApp(database, InlineRunner(), clock),
        "auth_reads": ChinookApp(database, InlineRunner(), clock, token=token, auth_reads=True),
    }


@pytest.fixture
def clock() -> Clock:
    """The site's time."""
    return Clock()


@pytest.fixture
def writable(apps: dict[str, ChinookApp], clock: Clock) -> TrackingSite:
    """The service with writes on, behind the token."""
    return site_for(apps["writable"], clock)


@pytest.fixture
def read_only(apps: dict[str, ChinookApp], clock: Clock) -> TrackingSite:
    """The service as it starts by default: reads only, no token."""
    return site_for(apps["read_only"], clock)


@pytest.fixture
def auth_reads(apps: dict[str, ChinookApp], clock: Clock) -> TrackingSite:
    """The service with --auth-reads."""
    return site_for(apps["auth_reads"], clock)


def site_for(app: ChinookApp, clock: Clock, limits: EdgeLimits = LIMITS) -> TrackingSite:
    """The site ``twistd chinook`` would build around ``app``."""
    return TrackingSite(
        app.resource(), InFlight(), reactor=clock, limits=limits, body_policy=app.body_policy
    )


def get(site: TrackingSite, target: str, **kwargs: Any) -> Wire:
    """A connection that sent one ``GET target``."""
    return Wire(site).send(request_bytes("GET", target, **kwargs))


# -- JSON everywhere, no Server version --------------------------------------------------


@pytest.mark.parametrize("host", ["a..b", ".", "x" * 64 + ".example", "a b", "h:port", "[zz]"])
@pytest.mark.parametrize("path", ["/", "/healthz", "/api/albums", "/api/albums/1", "/nope"])
def test_malformed_host_is_a_json_400(read_only: TrackingSite, host: str, path: str) -> None:
    """A Host header that is no host name is a JSON 400 on every URL (was a 500 HTML page)."""
    answer = get(read_only, path, host=host).response()
    assert answer.status == 400
    assert answer.json == {"message": "Bad Host header"}


def test_head_answers_have_no_body(read_only: TrackingSite, writable: TrackingSite) -> None:
    """Refusals of HEAD requests (by a resource or by the connection) carry headers only."""
    cases = [
        (read_only, request_bytes("HEAD", "/healthz", host="a..b"), 400),
        (read_only, request_bytes("HEAD", "/?" + "a" * 40_000), 414),
        (writable, request_bytes("HEAD", "/api/albums", {"X-Big": "b" * 20_000}), 431),
    ]
    for site, raw, status in cases:
        wire = Wire(site).send(raw)
        assert wire.written.endswith(b"\r\n\r\n")
        (answer,) = wire.responses(head_only=True)
        assert answer.status == status
        assert int(answer.header("content-length") or 0) > 0


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "example.com.", "my_box"],
)
def test_good_hosts_are_served(read_only: TrackingSite, host: str) -> None:
    """Host names, addresses, IPv6 literals and ports are served as before."""
    answer = get(read_only, "/api/albums/1", host=host).response()
    assert answer.status == 200
    assert answer.json["album_id"] == 1


def test_two_host_headers_are_a_400(read_only: TrackingSite) -> None:
    """Two Host headers (RFC 9112 3.2: a 400) are refused."""
    wire = Wire(read_only).send(
        b"GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
    )
    assert wire.response().status == 400


def test_no_server_version(read_only: TrackingSite) -> None:
    """No response names the server software or its version."""
    for target in ("/healthz", "/nope", "/api/albums/1"):
        answer = get(read_only, target).response()
        assert answer.header("server") is None, answer.headers
        assert answer.header("date") is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"POST /api/genres HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/genres HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x00Name: 1\r\n\r\n",
    ],
)
def test_parser_errors_are_json(writable: TrackingSite, raw: bytes) -> None:
    """What Twisted's parser refuses is a JSON 400, and the connection closes."""
    wire = Wire(writable).send(raw)
    answer = wire.response()
    assert answer.status == 400
    assert "message" in answer.json
    assert answer.header("connection") == "close"
    assert wire.closing


def test_malformed_chunked_body_is_json(writable: TrackingSite) -> None:
    """A chunked body that breaks the chunked syntax is a JSON 400."""
    head = request_bytes("POST", "/api/genres", {**JSON_AUTH, "Transfer-Encoding": "chunked"})
    answer = Wire(writable).send(head + b"zz\r\nxx\r\n").response()
    assert answer.status == 400
    assert "message" in answer.json


def test_unknown_transfer_coding_is_501(writable: TrackingSite) -> None:
    """A transfer coding the server does not implement is a JSON 501 (RFC 9112 6.1)."""
    head = request_bytes("POST", "/api/genres", {**JSON_AUTH, "Transfer-Encoding": "gzip"})
    answer = Wire(writable).send(head).response()
    assert answer.status == 501
    assert "message" in answer.json


@pytest.mark.parametrize("target", ["/api/albums%ff", "/%ff%fe", "/api/%c3%28"])
def test_non_utf8_url_is_json(read_only: TrackingSite, target: str) -> None:
    """A path that is not UTF-8 once percent-decoded is a JSON 400 (Klein said text/plain)."""
    answer = get(read_only, target).response()
    assert answer.status == 400
    assert answer.json == {"message": "Non-UTF-8 encoding in URL"}


def test_star_target(read_only: TrackingSite) -> None:
    """``OPTIONS *`` is 200; any other method on ``*`` is a JSON 405 allowing OPTIONS."""
    answer = get(read_only, "*").response()
    assert answer.status == 405
    assert answer.header("allow") == "OPTIONS"
    assert "message" in answer.json
    assert Wire(read_only).send(request_bytes("OPTIONS", "*")).response().status == 200


def test_multipart_body_is_never_parsed(writable: TrackingSite) -> None:
    """A malformed multipart body is not parsed: no token is a 401, a token a 415, both JSON."""
    body = b"--xyz\r\nnonsense"
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    answer = Wire(writable).send(request_bytes("POST", "/api/genres", headers, body)).response()
    assert answer.status == 401
    assert "message" in answer.json
    with_token = {**headers, **AUTH}
    answer = Wire(writable).send(request_bytes("POST", "/api/genres", with_token, body)).response()
    assert answer.status == 415
    assert "message" in answer.json


def test_unexpected_error_is_json(clock: Clock) -> None:
    """An exception escaping a resource is a JSON 500 without any detail of it."""

    class Boom(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> bytes:
            raise RuntimeError("secret detail")

    site = TrackingSite(Boom(), InFlight(), reactor=clock)
    answer = get(site, "/").response()
    assert answer.status == 500
    assert answer.json == {"message": "Internal server error"}


# -- the size of the request head -------------------------------------------------------


def test_request_line_too_long_is_414(read_only: TrackingSite) -> None:
    """A request line over the limit is a JSON 414, not a silently closed connection."""
    wire = get(read_only, "/api/albums?x=" + "a" * 40_000)
    answer = wire.response()
    assert answer.status == 414
    assert "message" in answer.json
    assert wire.closing


def test_request_line_too_long_is_414_before_it_ends(read_only: TrackingSite) -> None:
    """The 414 goes out as soon as the limit is passed, without waiting for the line's end."""
    wire = Wire(read_only).send(b"GET /api/albums?x=" + b"a" * 40_000)
    assert wire.response().status == 414


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "b" * 20_000},
        {f"X-H{i}": "v" * 400 for i in range(60)},
        {f"X-H{i}": "v" for i in range(120)},
    ],
)
def test_headers_too_large_is_431(read_only: TrackingSite, headers: dict[str, str]) -> None:
    """Headers over 16 KiB in all, or more than 100 of them, are a JSON 431."""
    wire = get(read_only, "/healthz", headers=headers)
    answer = wire.response()
    assert answer.status == 431
    assert "message" in answer.json
    assert wire.closing


def test_a_q_of_8_kib_fits_percent_encoded(read_only: TrackingSite) -> None:
    """A ``q`` just under the 8 KiB limit fits in the request line even when it triples encoded."""
    padding = "ü" * 4_050  # two UTF-8 bytes each, six characters each percent-encoded
    q = json.dumps({"filters": [{"name": "title", "op": "ne", "val": padding}]}, ensure_ascii=False)
    assert 8_000 < len(q.encode()) <= 8192
    target = "/api/albums?q=" + quote(q, safe="")
    assert len(target) > 24_000
    answer = get(read_only, target).response()
    assert answer.status == 200, answer.body
    assert answer.json["num_results"] == 12


# -- request bodies ------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_413_at_once(writable: TrackingSite) -> None:
    """A Content-Length over the limit is a 413 as soon as the head arrives (no 100 Continue)."""
    headers = {**JSON_AUTH, "Content-Length": str(1 << 30), "Expect": "100-continue"}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    assert [r.status for r in wire.responses()] == [413]
    assert wire.response().json == {"message": "Request body too large"}
    assert wire.closing


@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer wrong-token-0123456789"}])
def test_token_checked_before_the_body(writable: TrackingSite, auth: dict[str, str]) -> None:
    """Without the right token, a huge upload is a 401 as soon as the head arrives."""
    headers = {"Content-Type": "application/json", "Content-Length": str(1 << 30), **auth}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    assert wire.response().status == 401
    wire.send(b"\0" * 65536)  # the rest of the body is dropped, not parsed as a request
    assert len(wire.responses()) == 1
    assert wire.closing


def test_chunked_token_checked_before_the_body(writable: TrackingSite) -> None:
    """A chunked upload without the token is a 401 before any of its body is read."""
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    assert wire.response().status == 401


def test_chunked_body_is_cut_off_past_the_limit(writable: TrackingSite) -> None:
    """A chunked body is answered 413 the moment it passes the limit, and no sooner."""
    headers = {**JSON_AUTH, "Transfer-Encoding": "chunked"}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    for _ in range(16):  # exactly 1 MiB: still within the limit
        wire.send(chunk)
    assert wire.written == b""
    wire.send(b"1\r\n \r\n")
    assert wire.response().status == 413
    assert wire.closing


def test_body_within_the_limit_is_written(writable: TrackingSite) -> None:
    """A JSON body under the limit, chunked or not, with 100-continue or not, is written."""
    body = json.dumps({"name": "Edge"}).encode()
    plain = Wire(writable).send(request_bytes("POST", "/api/genres", JSON_AUTH, body))
    assert plain.response().status == 201
    headers = {**JSON_AUTH, "Transfer-Encoding": "chunked", "Expect": "100-continue"}
    chunked = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    assert chunked.written == b"HTTP/1.1 100 Continue\r\n\r\n"
    chunked.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    assert [r.status for r in chunked.responses()] == [100, 201]


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [("GET", "/healthz", 200), ("GET", "/api/albums/1", 200), ("POST", "/healthz", 405),
     ("POST", "/", 405), ("PUT", "/nope", 404), ("DELETE", "/api/albums", 405)],
)  # fmt: skip
def test_body_of_a_request_that_takes_none_is_never_read(
    writable: TrackingSite, method: str, target: str, status: int
) -> None:
    """A body nothing uses is not read: the answer comes at once, then the connection closes."""
    for framing in ({"Content-Length": str(1 << 30)}, {"Transfer-Encoding": "chunked"}):
        wire = Wire(writable).send(request_bytes(method, target, {**AUTH, **framing}))
        assert wire.response().status == status
        assert wire.response().header("connection") == "close"
        wire.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # body bytes, not a request
        assert len(wire.responses()) == 1
        assert wire.closing


def test_read_only_service_reads_no_body(read_only: TrackingSite) -> None:
    """On a read-only service, a 200 MiB POST is a 405 at once."""
    headers = {"Content-Type": "application/json", "Content-Length": str(200 << 20)}
    wire = Wire(read_only).send(request_bytes("POST", "/api/genres", headers))
    answer = wire.response()
    assert answer.status == 405
    assert answer.header("allow") == "GET, HEAD"


def test_an_unread_body_never_writes(apps: dict[str, ChinookApp], clock: Clock) -> None:
    """If the edge did not read a body, the write is a 413, never a write of an empty object."""
    site = TrackingSite(
        apps["writable"].resource(),
        InFlight(),
        reactor=clock,
        limits=LIMITS,
        body_policy=lambda *a: None,
    )
    body = json.dumps({"name": "Never"}).encode()
    answer = Wire(site).send(request_bytes("POST", "/api/genres", JSON_AUTH, body)).response()
    assert answer.status == 413
    check = get(
        site, "/api/genres?q=" + quote('{"filters":[{"name":"name","op":"eq","val":"Never"}]}')
    )
    assert check.response().json["num_results"] == 0


def test_keep_alive_after_a_request_without_body(writable: TrackingSite) -> None:
    """Requests without a body go on sharing one connection."""
    wire = Wire(writable)
    wire.send(request_bytes("GET", "/healthz") + request_bytes("GET", "/api/albums/2"))
    assert [r.status for r in wire.responses()] == [200, 200]
    assert not wire.closing


# -- media types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 201),
        ("application/json; charset=utf-8", 201),
        ('Application/JSON ; Charset="UTF-8"', 201),
        ("application/jsonx", 415),
        ("application/json-patch+json", 415),
        ("application/json; charset=latin-1", 415),
        ("text/json", 415),
        ("", 415),
    ],
)
def test_content_type_is_parsed(writable: TrackingSite, content_type: str, status: int) -> None:
    """Only the media type application/json (UTF-8) is taken as JSON; not a prefix match."""
    headers = {**AUTH, "Content-Type": content_type} if content_type else AUTH
    body = json.dumps({"name": "Media"}).encode()
    answer = Wire(writable).send(request_bytes("POST", "/api/genres", headers, body)).response()
    assert answer.status == status, answer.body
    assert "message" in answer.json or status == 201


# -- deadlines ---------------------------------------------------------------------------


def test_head_deadline(read_only: TrackingSite, clock: Clock) -> None:
    """A head sent a byte at a time is cut off with a 408 at the head deadline."""
    wire = Wire(read_only)
    for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"z" * 100:
        if clock.seconds() >= LIMITS.head_timeout:
            break
        wire.send(bytes([byte]))
        clock.advance(1)
    answer = wire.response()
    assert answer.status == 408
    assert "message" in answer.json
    assert wire.closing
    assert clock.seconds() == LIMITS.head_timeout


def test_first_head_deadline_starts_with_the_connection(
    read_only: TrackingSite, clock: Clock
) -> None:
    """A new connection must send its first head within the deadline; silent ones just close."""
    silent = Wire(read_only)
    late = Wire(read_only)
    clock.advance(LIMITS.head_timeout - 1)
    late.send(b"GET /healthz HTTP/1.1\r\n")
    clock.advance(1)
    assert silent.closing and silent.written == b""
    assert late.response().status == 408
    clock.advance(LIMITS.idle_timeout)  # nothing else fires on the closed connections


def test_keep_alive_wait_is_the_idle_timeouts(read_only: TrackingSite, clock: Clock) -> None:
    """Between requests only the idle timeout counts; each request has its own head deadline."""
    wire = Wire(read_only).send(request_bytes("GET", "/healthz"))
    clock.advance(LIMITS.idle_timeout - 1)
    wire.send(request_bytes("GET", "/healthz"))
    clock.advance(LIMITS.idle_timeout - 1)
    wire.send(b"GET /healthz HTTP/1.1\r\n")
    clock.advance(LIMITS.head_timeout - 1)
    wire.send(b"Host: x\r\n\r\n")
    assert [r.status for r in wire.responses()] == [200, 200, 200]
    assert not wire.closing


def test_idle_connection_closes_silently(read_only: TrackingSite, clock: Clock) -> None:
    """A keep-alive connection idle after its answer closes at the idle timeout, without a word."""
    wire = Wire(read_only).send(request_bytes("GET", "/healthz"))
    written = wire.written
    clock.advance(LIMITS.idle_timeout - 1)
    assert not wire.closing
    clock.advance(2)
    assert wire.closing
    assert wire.written == written


def test_body_deadline(writable: TrackingSite, clock: Clock) -> None:
    """A body trickling in is cut off with a 408 at the body deadline."""
    headers = {**JSON_AUTH, "Content-Length": "1000"}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    while clock.seconds() < LIMITS.body_timeout:
        wire.send(b" ")
        clock.advance(1)
    assert wire.response().status == 408
    assert wire.closing


def test_answered_connection_is_closed_in_the_end(writable: TrackingSite, clock: Clock) -> None:
    """After a refusal the server stops reading within a bounded time, whatever the client does."""
    headers = {"Content-Type": "application/json", "Content-Length": str(1 << 30)}
    wire = Wire(writable).send(request_bytes("POST", "/api/genres", headers))
    for _ in range(100):
        wire.send(b"\0" * 65536)
        clock.advance(0.1)
    assert wire.transport.disconnecting
    assert not clock.getDelayedCalls()


# -- authenticated reads -----------------------------------------------------------------


def test_index_needs_the_token_with_auth_reads(auth_reads: TrackingSite) -> None:
    """With --auth-reads, ``/`` (version, edition, collections) needs the token too."""
    refused = get(auth_reads, "/").response()
    assert refused.status == 401
    assert refused.header("www-authenticate") is not None
    assert "collections" not in refused.json
    answer = get(auth_reads, "/", headers=AUTH).response()
    assert answer.status == 200
    assert "albums" in answer.json["collections"]


def test_healthz_without_details_with_auth_reads(auth_reads: TrackingSite) -> None:
    """With --auth-reads, /healthz stays open for load balancers but tells only the status."""
    answer = get(auth_reads, "/healthz").response()
    assert answer.status == 200
    assert answer.json == {"status": "ok", "database": "ok"}
    detailed = get(auth_reads, "/healthz", headers=AUTH).response()
    assert detailed.status == 200
    assert {"version", "edition", "pid", "load"} <= set(detailed.json)


def test_healthz_keeps_its_details_without_auth_reads(read_only: TrackingSite) -> None:
    """Without --auth-reads, /healthz still reports version, edition, pid and load."""
    answer = get(read_only, "/healthz").response()
    assert {"status", "database", "version", "edition", "pid", "load"} <= set(answer.json)


# -- hostile heads, generated ------------------------------------------------------------

#: Bytes a header value can hold (Twisted refuses NUL, CR and LF itself).
HEADER_BYTES = st.binary(max_size=80).map(lambda b: b.translate(None, b"\0\r\n").strip())
TOKENS = st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"get", b"X"])
TARGETS = st.one_of(
    st.sampled_from([b"/", b"/healthz", b"/api/albums", b"/api/albums/1", b"*", b"/api/%ff"]),
    st.binary(max_size=60).map(lambda b: b"/" + b.translate(None, b" \0\r\n")),
)


@FUZZ
@given(host=HEADER_BYTES)
def test_any_host_header_is_200_or_json_400(apps: dict[str, ChinookApp], host: bytes) -> None:
    """Whatever the Host header holds, /healthz answers 200 or a JSON 400, never a 5xx."""
    site = site_for(apps["read_only"], Clock())
    answer = Wire(site).send(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n").response()
    assert answer.status in (200, 400)
    assert "status" in answer.json or answer.json == {"message": "Bad Host header"}


@FUZZ
@given(
    method=TOKENS,
    target=TARGETS,
    headers=st.lists(st.tuples(st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding",
                                                b"Content-Type", b"X-Any", b"Expect"]),
                               HEADER_BYTES), max_size=5),
    body=st.binary(max_size=40),
)  # fmt: skip
def test_hostile_heads_get_json_errors(
    apps: dict[str, ChinookApp],
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Random heads and bodies: every error is JSON, no 5xx but 501, the connection stays sane."""
    site = site_for(apps["writable"], Clock())
    head = b"%s %s HTTP/1.1\r\n" % (method, target)
    head += b"".join(b"%s: %s\r\n" % pair for pair in headers)
    wire = Wire(site).send(head + b"\r\n" + body)
    for answer in wire.responses(head_only=method == b"HEAD"):
        assert answer.status < 500 or answer.status == 501, answer
        if answer.status >= 400 and method != b"HEAD":
            assert "message" in answer.json


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\nHost: x\n\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\n\n",
        b"GET /healthz HTTP/1.1\nHost: x\r\n\r\n",
    ],
)
def test_bare_line_feeds_in_the_head_are_a_400_at_once(
    read_only: TrackingSite, clock: Clock, raw: bytes
) -> None:
    """A head whose lines end in a bare LF is refused at once (it waited for the 408)."""
    wire = Wire(read_only).send(raw)
    answer = wire.response()
    assert answer.status == 400
    assert "CRLF" in answer.json["message"]
    assert wire.closing


def test_a_crlf_split_between_reads_is_not_a_bare_line_feed(read_only: TrackingSite) -> None:
    """``\\r`` at the end of one read and ``\\n`` at the start of the next is one CRLF."""
    wire = Wire(read_only).send(b"GET /healthz HTTP/1.1\r").send(b"\nHost: x\r").send(b"\n\r\n")
    assert wire.response().status == 200


def test_bare_line_feeds_in_a_body_are_the_bodys_business(writable: TrackingSite) -> None:
    """Line feeds after the head belong to the body, which may hold any bytes."""
    body = b'{"name":\n"lf\\nGenre"}'
    head = request_bytes("POST", "/api/genres", {**JSON_AUTH, "Content-Length": str(len(body))})
    answer = Wire(writable).send(head + body).response()
    assert answer.status == 201
