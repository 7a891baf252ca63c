"""Request IDs: a safe client ID is kept, anything else replaced; every answer and log line has it.

The service's real ``TrackingSite`` over an in-memory transport
(``tests/log_support.py``); the real-socket tests, across workers and an
upstream, are in ``tests/test_logs_service.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent
from twisted.web.resource import Resource

from chinook_svc.database import open_engine
from chinook_svc.restless import InlineRunner
from chinook_svc.web.admission import AdmissionGate
from chinook_svc.web.app import ChinookApp
from chinook_svc.web.request_id import MAX_LENGTH, accept_request_id, new_request_id
from chinook_svc.web.site import InFlight, TrackingSite

from .log_support import exchange, get, header, read_all, traced_site
from .restless_client import Client
from .service_support import make_tiny_chinook
from .test_overload import make_runner

HEX32 = re.compile(rb"[0-9a-f]{32}")


def test_a_safe_client_id_is_kept() -> None:
    """Letters, digits and -._:+=/@ up to 128 characters are kept as they are."""
    for given in (b"abc-123", b"Root=1-5f84c7a5-3a1b;"[:-1], b"a" * MAX_LENGTH, b"x.y_z:1+2=3/4@5"):
        assert accept_request_id([given]) == given.decode("ascii")


@pytest.mark.parametrize(
    "given",
    [
        [b""],
        [b"a" * (MAX_LENGTH + 1)],
        [b"with space"],
        [b'quote"'],
        [b"tab\there"],
        [b"\xff\xfeutf"],
        [b"semi;colon"],
        [b"<script>"],
        [b"one", b"two"],
    ],
)
def test_anything_else_gets_a_fresh_id(given: list[bytes]) -> None:
    """Empty, too long, unsafe characters or two headers: a new 32-hex-digit ID."""
    made = accept_request_id(given)
    assert HEX32.fullmatch(made.encode("ascii"))


def test_fresh_ids_differ() -> None:
    """Generated IDs are uuid4 hex digits, never the same twice."""
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000


def test_client_id_is_echoed_and_in_the_access_log() -> None:
    """X-Request-ID comes back on the answer and ends the request's access-log line."""
    site, _clock, access_log, read_fd = traced_site()
    response = exchange(site, get("/ok", "X-Request-ID: trace-42"))
    assert response.startswith(b"HTTP/1.1 200 ")
    assert header(response, b"x-request-id") == b"trace-42"
    access_log.flush()
    assert read_all(read_fd).rstrip(b"\n").endswith(b" trace-42")


def test_hostile_id_is_never_reflected() -> None:
    """An ID with unsafe bytes is replaced, on the answer and in the log."""
    site, _clock, access_log, read_fd = traced_site()
    response = exchange(site, get("/ok", "X-Request-ID: <img src=x onerror=alert(1)>"))
    sent = header(response, b"x-request-id")
    assert sent is not None and HEX32.fullmatch(sent)
    access_log.flush()
    line = read_all(read_fd)
    assert b"onerror" not in line and line.rstrip(b"\n").endswith(sent)


@pytest.mark.parametrize(
    ("path", "status"), [("/ok", 200), ("/nowhere", 404), ("/boom", 500), ("*", 405)]
)
def test_every_answer_has_an_id(path: str, status: int) -> None:
    """Answers, 404s, 500s and the site's own answers carry X-Request-ID."""
    site, _clock, _, _ = traced_site()
    raw = b"GET * HTTP/1.1\r\nHost: test\r\n\r\n" if path == "*" else get(path)
    response = exchange(site, raw)
    assert response.startswith(b"HTTP/1.1 %d " % status), response
    sent = header(response, b"x-request-id")
    assert sent is not None and HEX32.fullmatch(sent)


def test_an_error_is_logged_once_with_its_traceback_and_id() -> None:
    """A 500: one error event carrying the failure and the request ID; the client sees neither."""
    site, _clock, _, _ = traced_site()
    with capturedLogs() as events:
        response = exchange(site, get("/boom", "X-Request-ID: boom-1"))
    assert response.startswith(b"HTTP/1.1 500 ")
    failures = [e for e in events if e.get("log_failure") is not None]
    assert len(failures) == 1, events
    assert failures[0]["request_id"] == "boom-1"
    assert failures[0]["log_failure"].check(RuntimeError)
    body = response.split(b"\r\n\r\n", 1)[1]
    assert b"secret-internal-detail" not in body and b"Traceback" not in body
    assert body == b'{"message":"Internal server error"}'


def test_the_request_id_follows_the_handler_across_awaits() -> None:
    """The log context of a request holds its ID in its coroutine, after an await."""
    site, clock, _, _ = traced_site()
    response = exchange(site, get("/context", "X-Request-ID: ctx-7"), clock, 0.02)
    assert b"\r\n\r\n5\r\nctx-7\r\n" in response  # the chunked body
    generated = exchange(site, get("/context"), clock, 0.02)
    sent = header(generated, b"x-request-id")
    assert sent is not None and b"\r\n20\r\n" + sent + b"\r\n" in generated


def test_answers_the_connection_gives_itself_have_an_id() -> None:
    """413 (body too large, the head read: the client's ID) and 431 (a fresh one)."""
    site, _, _, _ = traced_site()
    raw = b"POST /ok HTTP/1.1\r\nHost: t\r\nX-Request-ID: big-1\r\nContent-Length: 99999999\r\n\r\n"
    response = exchange(site, raw)
    assert response.startswith(b"HTTP/1.1 413 ")
    assert header(response, b"x-request-id") == b"big-1"
    many = get("/ok", *(f"X-Filler-{i}: x" for i in range(200)))
    response = exchange(site, many)
    assert response.startswith(b"HTTP/1.1 431 ")
    sent = header(response, b"x-request-id")
    assert sent is not None and HEX32.fullmatch(sent)


def test_the_openapi_document_describes_the_header_on_every_response(tmp_path: Path) -> None:
    """Every response of /openapi.json (inline or a shared component) names X-Request-ID."""
    engine = open_engine(make_tiny_chinook(tmp_path / "tiny.db"))
    try:
        app = ChinookApp(engine, InlineRunner(), Clock())
        document = Client(app.resource()).get("/openapi.json").json
    finally:
        engine.dispose()
    validate(document)
    ref = {"$ref": "#/components/headers/X-Request-ID"}
    assert document["components"]["headers"]["X-Request-ID"]["schema"]["type"] == "string"
    responses = list(document["components"].get("responses", {}).values())
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                responses += operation["responses"].values()
    assert len(responses) > 20
    for response in responses:
        assert "$ref" in response or response["headers"]["X-Request-ID"] == ref, response


def test_an_admission_503_has_the_id_and_its_log_line_names_it() -> None:
    """The gate's prepared 503 carries X-Request-ID; the (rate-limited) line names the request."""
    runner, _, _ = make_runner(1, queue_limit=1)
    runner.run(lambda: None)  # the one thread, held
    runner.run(lambda: None)  # the queue, full
    clock = MemoryReactorClock()
    gate = AdmissionGate(Resource(), runner, clock, pause=0)
    root = Resource()
    root.putChild(b"api", gate)
    site = TrackingSite(root, InFlight(), reactor=clock)
    with capturedLogs() as events:
        response = exchange(site, get("/api/albums", "X-Request-ID: shed-1"))
    assert response.startswith(b"HTTP/1.1 503 ")
    assert header(response, b"x-request-id") == b"shed-1"
    (line,) = [e for e in events if e.get("kind") == "overloaded"]
    assert line["request_id"] == "shed-1"
    assert formatEvent(line).endswith("(request shed-1)")
