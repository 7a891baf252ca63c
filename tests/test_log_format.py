"""``--log-format json``: the object each log event becomes, and how twistd is made to use it.

The running service's output, every line parsed, is checked in
``tests/test_logs_service.py``.
"""

from __future__ import annotations

import json
import re

import pytest
from twisted.application.service import Application, Service
from twisted.logger import ILogObserver, Logger, LogLevel, capturedLogs
from twisted.python import log as legacy

from chinook_svc.log_context import REQUEST_ID
from chinook_svc.log_format import (
    JsonLogObserver,
    LoggedService,
    event_object,
    iso_time,
    json_observer_for,
    parse_log_format,
    relayed_event,
)

from .log_support import pipe_writer, read_all


def emitted(emit: object) -> dict[str, object]:
    """The one event ``emit()`` logs."""
    with capturedLogs() as events:
        emit()  # type: ignore[operator]
    (event,) = events
    return dict(event)


class Thing:
    """Something a log event may carry that is not JSON."""


def test_an_event_becomes_the_documented_object() -> None:
    """timestamp (UTC, ms), level, namespace, message, and the JSON-able fields."""
    log = Logger(namespace="chinook_svc.test")
    event = emitted(
        lambda: log.warn(
            "{count} refused on {name}", count=3, name="reads", extra=[1, "a"], thing=Thing()
        )
    )
    event["log_time"] = 1_000_000.25
    obj = event_object(event)
    assert obj == {
        "timestamp": "1970-01-12T13:46:40.250Z",
        "level": "warn",
        "namespace": "chinook_svc.test",
        "message": "3 refused on reads",
        "count": 3,
        "name": "reads",
        "extra": [1, "a"],
    }


def test_the_request_id_comes_from_the_event_or_the_context() -> None:
    """An event's own request_id; else the one of the request being served; else none."""
    log = Logger(namespace="t")
    assert event_object(emitted(lambda: log.info("x", request_id="own")))["request_id"] == "own"
    token = REQUEST_ID.set("ctx-1")
    try:
        assert event_object(emitted(lambda: log.info("y")))["request_id"] == "ctx-1"
    finally:
        REQUEST_ID.reset(token)
    assert "request_id" not in event_object(emitted(lambda: log.info("z")))


def test_a_failure_becomes_a_traceback_field() -> None:
    """log.failure: level critical, the error's text and the whole traceback as fields."""
    log = Logger(namespace="t")

    def fail() -> None:
        try:
            raise ValueError("broken thing")
        except ValueError:
            log.failure("Handling {what}", what="it")

    obj = event_object(emitted(fail))
    assert obj["level"] == "critical" and obj["message"] == "Handling it"
    assert obj["error"] == "broken thing"
    assert (
        obj["traceback"].startswith("Traceback") and "ValueError: broken thing" in obj["traceback"]
    )
    json.dumps(obj)


def test_twisted_legacy_events() -> None:
    """twisted.python.log.msg lines (Twisted's own) keep only their text."""
    obj = event_object(emitted(lambda: legacy.msg("Starting factory {!r}".format("f"))))
    assert obj["message"] == "Starting factory 'f'" and obj["level"] == "info"
    assert set(obj) == {"timestamp", "level", "namespace", "message"}


def test_the_observer_writes_one_line_per_event() -> None:
    """JsonLogObserver: a line of JSON per event, the worker's number added when it has one."""
    writer, read_fd = pipe_writer()
    observer = JsonLogObserver(writer, worker=1)
    log = Logger(namespace="t", observer=observer)
    log.info("first {n}", n=1)
    log.error("second\nwith a newline")
    lines = read_all(read_fd).splitlines()
    assert [json.loads(x)["message"] for x in lines] == ["first 1", "second\nwith a newline"]
    assert all(json.loads(x)["worker"] == 1 for x in lines)


def test_a_worker_line_is_relayed_unchanged() -> None:
    """The parent writes a worker's JSON line as it is; other observers see its text."""
    line = b'{"timestamp":"t","level":"warn","namespace":"n","message":"m","worker":0}'
    event = relayed_event(line)
    assert event is not None and event["log_level"] is LogLevel.warn
    writer, read_fd = pipe_writer()
    JsonLogObserver(writer)({**event, "log_time": 0.0})
    assert read_all(read_fd) == line + b"\n"
    assert relayed_event(b"[chinook#info] text") is None and relayed_event(b"[1]") is None


def test_logged_service_makes_twistd_log_through_the_observer() -> None:
    """Joining the application sets its ILogObserver, which twistd's AppLogger uses."""
    writer, _ = pipe_writer()
    observer = JsonLogObserver(writer)
    inner = Service()
    application = Application("chinook")
    LoggedService(inner, observer).setServiceParent(application)
    assert application.getComponent(ILogObserver) is observer
    assert inner.parent is not None


def test_observer_destination_follows_twistd_options(tmp_path: object) -> None:
    """--logfile FILE: that file; -n: standard output."""
    path = f"{tmp_path}/twistd.log"
    observer = json_observer_for({"logfile": path, "nodaemon": True})
    Logger(namespace="t", observer=observer).info("hello")
    observer.writer.close()
    with open(path) as f:
        assert json.loads(f.read())["message"] == "hello"
    assert json_observer_for({"logfile": "-", "nodaemon": True}).writer.fd == 1


def test_iso_time_and_formats() -> None:
    """ISO 8601 UTC to the millisecond; text or json only."""
    assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_time(1_790_000_000.5))
    assert parse_log_format(" JSON ") == "json" and parse_log_format("text") == "text"
    with pytest.raises(ValueError):
        parse_log_format("xml")
