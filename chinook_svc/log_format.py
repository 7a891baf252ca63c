"""``--log-format json``: every log event as one JSON object on one line.

:class:`JsonLogObserver` is a ``twisted.logger`` observer.  Each event becomes
an object with

* ``timestamp``: ISO 8601 in UTC, to the millisecond (``2026-12-03T13:29:21.123Z``);
* ``level``: ``debug``, ``info``, ``warn``, ``error`` or ``critical``;
* ``namespace``: the emitting logger's (``chinook_svc.web.app.ChinookApp``,
  ``twisted.web.server``, ``stdout`` ...);
* ``message``: the event formatted as the text log shows it;
* ``request_id``: the request the event belongs to, when there is one (the
  event's own field, else the request being served,
  :mod:`chinook_svc.log_context`);
* ``traceback`` (and ``error``, the exception's one-line text) for an event
  that carries a failure;
* the event's own fields (``count``, ``method``, ``uri`` ...), those that can
  be written in JSON; a field named like one of the above is left out.

Twisted's ``eventAsJSON`` keeps its internal keys and the unformatted format
string instead; this is what log shippers expect.  With ``--workers N``, each
worker writes the same objects (with ``worker``: its number) to a pipe; the
parent writes them out unchanged (:func:`relayed_event`).

:func:`json_observer_for` picks where the lines go under ``twistd``: the file
of ``--logfile``, else standard output (``-n``), else ``twistd.log``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from twisted.application.service import IService, MultiService
from twisted.logger import ILogObserver, LogLevel, formatEvent
from twisted.python.failure import Failure
from zope.interface import implementer

from chinook_svc.log_context import current_request_id
from chinook_svc.log_output import LineWriter

TEXT, JSON = "text", "json"
FORMATS = (TEXT, JSON)
#: The keys every line has (an event's own field of the same name is left out).
RESERVED = frozenset(
    {"timestamp", "level", "namespace", "message", "request_id", "traceback", "error", "worker"}
)
#: Keys of Twisted's legacy events (``twisted.python.log``) that say nothing more.
_LEGACY = frozenset({"format", "time", "isError", "why", "failure", "printed", "system"})
#: The event key of a line a worker wrote, relayed as it is (:func:`relayed_event`).
RELAYED = "chinook_relayed_json"


def parse_log_format(value: object) -> str:
    """``text`` or ``json``."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in FORMATS:
        raise ValueError("expected text or json")
    return text


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 UTC, to the millisecond."""
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple | dict):
        try:
            orjson.dumps(value)
        except TypeError:
            return False
        return True
    return False


def event_object(event: dict[str, Any], worker: int | None = None) -> dict[str, Any]:
    """The JSON object of one log event."""
    level = event.get("log_level")
    out: dict[str, Any] = {
        "timestamp": iso_time(event.get("log_time") or 0.0),
        "level": getattr(level, "name", "info"),
        "namespace": event.get("log_namespace", "-"),
        "message": formatEvent(event),
    }
    request_id = event.get("request_id")
    if not isinstance(request_id, str):
        request_id = current_request_id()
    if request_id is not None:
        out["request_id"] = request_id
    failure = event.get("log_failure")
    if isinstance(failure, Failure):
        out["error"] = failure.getErrorMessage()
        out["traceback"] = failure.getTraceback()
        if level is None:
            out["level"] = "error"
    if worker is not None:
        out["worker"] = worker
    legacy = "log_legacy" in event or "isError" in event
    for key, value in event.items():
        if (
            key.startswith("log_")
            or key in RESERVED
            or (legacy and key in _LEGACY)
            or not isinstance(key, str)
            or not _jsonable(value)
        ):
            continue
        out[key] = value
    return out


def event_line(event: dict[str, Any], worker: int | None = None) -> bytes:
    """One event as a line of JSON (its ``message`` alone, if the event will not encode)."""
    relayed = event.get(RELAYED)
    if isinstance(relayed, bytes):
        return relayed + b"\n"
    obj = event_object(event, worker)
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # e.g. a dict field with non-string keys, or an integer too large
        kept = {k: obj[k] for k in RESERVED if k in obj}
        return orjson.dumps(kept, option=orjson.OPT_APPEND_NEWLINE)


@implementer(ILogObserver)
class JsonLogObserver:
    """Writes each event as a line of JSON through a :class:`LineWriter`.

    Args:
        writer: where the lines go, each written at once (the access log
            buffers its lines up to 0.1 s, so a log line may come before
            the access lines of requests that ended just before it).
        worker: the worker number added to every line (``None``: not a worker).
    """

    def __init__(self, writer: LineWriter, worker: int | None = None) -> None:
        self.writer = writer
        self.worker = worker

    def __call__(self, event: dict[str, Any]) -> None:
        """Write ``event``."""
        self.writer.write_now(event_line(event, self.worker))


def relayed_event(line: bytes) -> dict[str, Any] | None:
    """The event that writes a worker's JSON line unchanged (``None``: not a JSON object).

    The event also carries the line's level, namespace and message, for the
    observers that are not a :class:`JsonLogObserver`.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    try:
        level = LogLevel.levelWithName(str(obj.get("level", "info")))
    except Exception:  # InvalidLogLevelError: a level we do not know
        level = LogLevel.info
    return {
        RELAYED: line.rstrip(b"\r\n"),
        "log_level": level,
        "log_namespace": str(obj.get("namespace", "-")),
        "log_format": "{message}",
        "message": str(obj.get("message", "")),
    }


class LoggedService(MultiService):
    """``service``, and the log observer twistd is to log through.

    twistd builds the application after ``makeService`` returns, then logs
    to the application's ``ILogObserver`` component, if it has one: this
    service sets it when it joins the application (``setServiceParent``).
    """

    def __init__(self, service: IService, observer: ILogObserver) -> None:
        super().__init__()
        self.observer = observer
        service.setServiceParent(self)

    def setServiceParent(self, parent: Any) -> None:
        """Join ``parent``; make the observer the one it logs through."""
        set_component = getattr(parent, "setComponent", None)
        if set_component is not None:
            set_component(ILogObserver, self.observer)
        super().setServiceParent(parent)


def with_log_format(service: MultiService, log_format: str, twistd_options: Any) -> MultiService:
    """``service``, made to have twistd log in ``log_format`` (``twistd_options``: twistd's).

    Text is twistd's own log; JSON wraps ``service`` in a :class:`LoggedService`.
    """
    if log_format != JSON:
        return service
    return LoggedService(service, json_observer_for(twistd_options))


def json_observer_for(twistd_options: Any) -> JsonLogObserver:
    """The JSON observer writing where twistd would have logged (``twistd_options``: its options).

    ``--logfile FILE`` appends to FILE; ``-n`` (or ``--logfile -``) writes to
    standard output; a daemon without ``--logfile`` appends to ``twistd.log``.
    """
    get = getattr(twistd_options, "get", None)
    logfile = get("logfile") if get is not None else None
    nodaemon = bool(get("nodaemon")) if get is not None else True
    if logfile and logfile != "-":
        return JsonLogObserver(LineWriter.append_to(logfile))
    if logfile == "-" or nodaemon:
        sys.stdout.flush()  # what was printed before goes first
        return JsonLogObserver(LineWriter(1))
    return JsonLogObserver(LineWriter.append_to("twistd.log"))


__all__ = [
    "FORMATS",
    "JSON",
    "TEXT",
    "JsonLogObserver",
    "LoggedService",
    "event_line",
    "event_object",
    "iso_time",
    "json_observer_for",
    "parse_log_format",
    "relayed_event",
    "with_log_format",
]
