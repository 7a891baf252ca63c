"""The access log: combined format plus latency and ID, JSON too, buffered, whole lines always.

The lines come from the service's real ``TrackingSite`` over an in-memory
transport (``tests/log_support.py``) into a real pipe; the whole-line
guarantee is checked with several real processes writing to one pipe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from chinook_svc.log_output import PIPE_BUF, LineWriter
from chinook_svc.web.access_log import (
    FLUSH_SECONDS,
    OFF,
    STDOUT,
    open_access_log,
    parse_access_log,
)

from .log_support import exchange, get, read_all, traced_site

#: A combined log line, then the seconds and the request ID.
LINE = re.compile(
    rb'(?P<host>\S+) - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(?P<request>[^"]*)" '
    rb'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" '
    rb"(?P<seconds>\d+\.\d{6}) (?P<id>\S+)"
)


def test_a_line_is_combined_with_latency_and_id() -> None:
    """Host, date, request line, status, bytes, referer, agent, seconds taken, request ID."""
    site, clock, access_log, read_fd = traced_site()
    clock.advance(1_000_000)
    response = exchange(
        site,
        get("/slow?x=1", "X-Request-ID: slow-1", "Referer: http://a.example/", "User-Agent: t/1"),
        clock,
        0.25,
    )
    assert response.startswith(b"HTTP/1.1 200 ")
    access_log.flush()
    line = read_all(read_fd)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    found = LINE.fullmatch(line.rstrip(b"\n"))
    assert found is not None, line
    assert found["host"] == b"127.0.0.1"
    assert found["request"] == b"GET /slow?x=1 HTTP/1.1"
    assert (found["status"], found["referer"], found["agent"]) == (
        b"200",
        b"http://a.example/",
        b"t/1",
    )
    assert int(found["bytes"]) > 0
    assert found["seconds"] == b"0.250000"
    assert found["id"] == b"slow-1"
    assert b"[12/Jan/1970:13:46:40 +0000]" in line


def test_client_bytes_are_escaped() -> None:
    """Quotes, backslashes and bytes outside printable ASCII never break the line."""
    site, _clock, access_log, read_fd = traced_site()
    exchange(site, get('/ok?a="b"\\', 'User-Agent: x"y\x01\xe9'))
    access_log.flush()
    line = read_all(read_fd)
    assert line.count(b"\n") == 1
    found = LINE.fullmatch(line.rstrip(b"\n"))
    assert found is not None, line
    assert found["request"] == b"GET /ok?a=\\x22b\\x22\\x5c HTTP/1.1"
    assert found["agent"] == b"x\\x22y\\x01\\xe9"


def test_json_lines() -> None:
    """With --log-format json a line is one JSON object with the request's fields."""
    site, _clock, access_log, read_fd = traced_site("json")
    exchange(site, get("/nowhere", "X-Request-ID: j-1", "User-Agent: t/1"))
    access_log.flush()
    (line,) = read_all(read_fd).splitlines()
    obj = json.loads(line)
    assert obj["namespace"] == "chinook_svc.access" and obj["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["timestamp"])
    assert (obj["request_id"], obj["status"], obj["method"], obj["uri"]) == (
        "j-1",
        404,
        "GET",
        "/nowhere",
    )
    assert obj["user_agent"] == "t/1" and obj["remote"] == "127.0.0.1"
    assert obj["duration_ms"] == 0.0 and obj["bytes"] > 0
    assert LINE.fullmatch(obj["message"].encode("ascii"))


def test_lines_wait_at_most_the_flush_interval() -> None:
    """A line is buffered, and written once FLUSH_SECONDS have passed on the clock."""
    site, clock, _access_log, read_fd = traced_site()
    exchange(site, get("/ok"))
    assert read_all(read_fd) == b""
    clock.advance(FLUSH_SECONDS)
    assert read_all(read_fd).count(b"\n") == 1


def test_writes_are_whole_lines_of_at_most_a_pipe_buffer() -> None:
    """Buffered lines go out in writes of at most PIPE_BUF bytes, each ending a line."""
    writes: list[bytes] = []

    class Recording(LineWriter):
        def _write_all(self, data: bytes) -> None:
            writes.append(data)

    writer = Recording(-1)
    lines = [b"%05d %s\n" % (i, b"x" * (i % 300)) for i in range(2000)]
    for line in lines:
        writer.write(line)
    writer.write_now(b"y" * (PIPE_BUF * 2) + b"\n")  # a line too long for one: alone
    assert b"".join(writes) == b"".join(lines) + b"y" * (PIPE_BUF * 2) + b"\n"
    assert all(w.endswith(b"\n") for w in writes)
    assert all(len(w) <= PIPE_BUF for w in writes[:-1]) and len(writes[-1]) > PIPE_BUF


WRITER = """
import sys
from chinook_svc.log_output import LineWriter
w = LineWriter(1)
tag = sys.argv[1].encode()
for i in range(3000):
    w.write(b"%s %05d %s end\\n" % (tag, i, tag * (i % 97)))
w.flush()
"""


def test_processes_sharing_a_pipe_never_cut_into_each_others_lines(tmp_path: Path) -> None:
    """Three processes writing 3,000 lines each to one pipe: every line arrives whole."""
    read_fd, write_fd = os.pipe()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, tag], stdout=write_fd)
        for tag in ("a", "b", "c")
    ]
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = data.split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == 9000
    for line in lines:
        tag, number, filler, end = line.split(b" ")
        assert end == b"end" and filler == tag * (int(number) % 97), line


def test_parse_access_log() -> None:
    """``-``, ``off`` (also none/false/no) or a path, ~ expanded."""
    assert parse_access_log("-") == STDOUT
    assert parse_access_log("OFF") == OFF and parse_access_log("none") == OFF
    assert parse_access_log("~/access.log") == str(Path("~/access.log").expanduser())
    with pytest.raises(ValueError):
        parse_access_log("  ")


def test_open_access_log(tmp_path: Path) -> None:
    """off: none; a file: appended to, written out and closed after shutdown."""
    reactor = MemoryReactorClock()
    assert open_access_log(OFF, reactor) is None
    path = tmp_path / "access.log"
    path.write_bytes(b"earlier\n")
    access_log = open_access_log(str(path), reactor)
    assert access_log is not None
    access_log.writer.write(b"line\n")
    # MemoryReactor.triggers: {phase: {event: [(callable, args, kwargs)]}}
    ((trigger, args, kwargs),) = reactor.triggers["after"]["shutdown"]
    trigger(*args, **kwargs)
    assert path.read_bytes() == b"earlier\nline\n"
    assert access_log.writer.closed


def test_a_client_gone_before_the_answer_is_a_499_line() -> None:
    """The connection closes while the handler waits: one line, status 499, 0 bytes."""
    site, clock, access_log, read_fd = traced_site()
    address = IPv4Address("TCP", "127.0.0.1", 40000)
    channel = site.buildProtocol(address)
    channel.makeConnection(StringTransport(peerAddress=address))
    channel.dataReceived(get("/slow", "X-Request-ID: gone-1"))
    channel.connectionLost(Failure(ConnectionDone()))
    clock.advance(1)  # the handler's wait ends; nothing more is logged
    access_log.flush()
    (line,) = read_all(read_fd).splitlines()
    found = LINE.fullmatch(line)
    assert found is not None, line
    assert (found["status"], found["bytes"], found["id"]) == (b"499", b"0", b"gone-1")
