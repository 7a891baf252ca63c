"""The access log: one line per answered request, the combined log format plus latency and ID.

A text line is Apache's/nginx's "combined" format with two more fields, the
seconds the request took (from its arrival to its last byte handed to the
connection, to the microsecond) and its request ID::

    127.0.0.1 - - [03/Dec/2026:13:29:21 +0000] "GET /api/artists/1 HTTP/1.1" 200 175 "-"
    "curl/8.5.0" 0.001873 9f0c4d1e6b1a4c8e9d2f3a4b5c6d7e8f

(one line, cut in two here).

A request whose client went away before its answer was complete is logged
with status :data:`CLIENT_GONE` (499, as nginx does) and the bytes sent so far.

Bytes a client chose (the request line, ``Referer``, ``User-Agent``) are
written with ``"``, ``\\`` and every byte outside printable ASCII escaped as
``\\xNN``, so a line is always one line.  With ``--log-format json`` a line
is a JSON object instead: the usual log keys (``timestamp``, ``level``,
``namespace`` ``chinook_svc.access``, ``message``: the text line,
``request_id``) and ``remote``, ``method``, ``uri``, ``protocol``,
``status``, ``bytes``, ``referer``, ``user_agent``, ``duration_ms``.

Lines are buffered (:class:`~chinook_svc.log_output.LineWriter`) and
written out at most :data:`FLUSH_SECONDS` later, in writes that keep lines
whole, so several workers can share one standard output or one file.
"""

from __future__ import annotations

import os.path
import re
import time
from typing import Any

import orjson
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python import usage

from chinook_svc.log_context import request_id_of
from chinook_svc.log_format import JSON
from chinook_svc.log_output import LineWriter

#: Seconds a line may wait in the buffer.
FLUSH_SECONDS = 0.1
#: The ``--access-log`` values that are not files.
STDOUT, OFF = "-", "off"
NAMESPACE = "chinook_svc.access"
#: The status logged for a request whose client went away first (nginx's).
CLIENT_GONE = 499

_UNSAFE = re.compile(rb'[^\x20-\x7e]|["\\]')
#: The bytes written as they are.
_SAFE = bytes(b for b in range(0x20, 0x7F) if b not in b'"\\')


def _escape(value: bytes) -> bytes:
    if not value.translate(None, _SAFE):  # nothing left once the safe bytes are deleted
        return value
    return _UNSAFE.sub(lambda m: b"\\x%02x" % m.group()[0], value)


def parse_access_log(value: object) -> str:
    """``-`` (standard output), ``off``, or a file's path (``~`` expanded)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a file, - (standard output) or off")
    text = value.strip()
    if text.lower() in ("off", "none", "false", "no"):
        return OFF
    if text == STDOUT:
        return STDOUT
    return os.path.expanduser(text)


class AccessLog:
    """Formats and buffers the access-log line of each finished request.

    Args:
        writer: where the lines go.
        clock: the reactor's clock (timestamps, latency, the flush timer).
        log_format: ``text`` (combined) or ``json``.
    """

    def __init__(self, writer: LineWriter, clock: IReactorTime, log_format: str = "text") -> None:
        self.writer = writer
        self._clock = clock
        self._json = log_format == JSON
        self._timer: IDelayedCall | None = None
        self._second = -1
        self._stamp = b""
        self._iso = ""

    def _date(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._second = second
            utc = time.gmtime(second)
            self._stamp = time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", utc).encode("ascii")
            self._iso = time.strftime("%Y-%m-%dT%H:%M:%S", utc)
        return self._stamp

    def _timestamp(self, now: float) -> str:
        """``iso_time(now)``, from the second's text :meth:`_date` keeps."""
        self._date(now)
        return f"{self._iso}.{int((now - int(now)) * 1000):03d}Z"

    def line(self, request: Any, status: int | None = None) -> bytes:
        """The line of a finished ``request`` (``status``: instead of the request's)."""
        now = self._clock.seconds()
        started = getattr(request, "started_at", None)
        seconds = now - started if started is not None else 0.0
        remote = request.getClientAddress()
        host = getattr(remote, "host", None)
        host_bytes = host.encode("ascii", "replace") if isinstance(host, str) else b"-"
        request_id = request_id_of(request) or "-"
        headers = request.requestHeaders
        referer = headers.getRawHeaders(b"referer", [b"-"])[0]
        agent = headers.getRawHeaders(b"user-agent", [b"-"])[0]
        first_line = b"%s %s %s" % (request.method, request.uri, request.clientproto)
        text = b'%s - - %s "%s" %d %d "%s" "%s" %.6f %s' % (
            host_bytes,
            self._date(now),
            _escape(first_line),
            request.code if status is None else status,
            request.sentLength,
            _escape(referer),
            _escape(agent),
            seconds,
            request_id.encode("ascii", "replace"),
        )
        if not self._json:
            return text + b"\n"
        return orjson.dumps(
            {
                "timestamp": self._timestamp(now),
                "level": "info",
                "namespace": NAMESPACE,
                "message": text.decode("ascii"),
                "request_id": request_id,
                "remote": host_bytes.decode("ascii"),
                "method": request.method.decode("latin-1"),
                "uri": request.uri.decode("latin-1"),
                "protocol": request.clientproto.decode("latin-1"),
                "status": request.code if status is None else status,
                "bytes": request.sentLength,
                "referer": referer.decode("latin-1"),
                "user_agent": agent.decode("latin-1"),
                "duration_ms": round(seconds * 1000, 3),
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )

    def log(self, request: Any, status: int | None = None) -> None:
        """Buffer the line of ``request``; make sure it goes out soon."""
        self.writer.write(self.line(request, status))
        if self._timer is None and self.writer.pending:
            self._timer = self._clock.callLater(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write out the buffered lines."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.writer.flush()

    def close(self) -> None:
        """Write out the buffered lines; close the file (if a file)."""
        self.flush()
        self.writer.close()


def open_access_log(
    destination: str, reactor: Any, log_format: str = "text", stdout_fd: int = 1
) -> AccessLog | None:
    """The access log ``destination`` (``--access-log``) asks for, written out at shutdown.

    Args:
        destination: ``-`` (standard output), ``off``, or a file to append to.
        reactor: the reactor (its clock; the access log is flushed, and its
            file closed, after it shuts down).
        log_format: ``text`` or ``json``.
        stdout_fd: what standard output is (a worker's pipe to its parent).

    Raises:
        usage.UsageError: the file cannot be opened.
    """
    if destination == OFF:
        return None
    try:
        writer = (
            LineWriter(stdout_fd) if destination == STDOUT else LineWriter.append_to(destination)
        )
    except OSError as e:
        raise usage.UsageError(f"cannot open the access log: {e}") from None
    access_log = AccessLog(writer, reactor, log_format)
    reactor.addSystemEventTrigger("after", "shutdown", access_log.close)
    return access_log


def stdout_relay(destination: str) -> LineWriter | None:
    """Where the parent of workers copies their access logs: standard output, if asked for."""
    return LineWriter(1) if destination == STDOUT else None


__all__ = [
    "CLIENT_GONE",
    "FLUSH_SECONDS",
    "OFF",
    "STDOUT",
    "AccessLog",
    "open_access_log",
    "parse_access_log",
    "stdout_relay",
]
