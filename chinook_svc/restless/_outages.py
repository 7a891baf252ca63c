"""Rate-limited warnings for 503 answers: an outage shows in the log without flooding it.

During an outage every request may fail; logging each would bury the log
(and slow the service down) exactly when someone reads it.  An
:class:`OutageLog` writes the first event of a kind at once, then at most one
line per ``interval`` seconds per kind, each line counting the events since
the previous one.  It may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from chinook_svc.log_context import current_request_id

#: Seconds between two lines of the same kind.
INTERVAL = 10.0


class OutageLog:
    """At most one warning per kind every ``interval`` seconds, with a count.

    Args:
        logger: where the lines go (default: this module's logger).
        interval: seconds between two lines of one kind.
        clock: a monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        logger: Logger | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger or Logger(namespace="chinook_svc.outages")
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, kind: str, message: str, **fields: Any) -> bool:
        """Count one event of ``kind``; log ``message`` if the kind's last line is old enough.

        ``message`` is a ``twisted.logger`` format string; ``{count}`` is the
        number of events since the previous line (this one included).

        Returns:
            Whether a line was written.
        """
        with self._lock:
            count = self._pending.get(kind, 0) + 1
            now = self._clock()
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._pending[kind] = count
                return False
            self._pending[kind] = 0
            self._last[kind] = now
        request_id = current_request_id()
        if request_id is not None and "request_id" not in fields:
            # The request that brought the line about (the others are counted).
            fields["request_id"] = request_id
            message += " (request {request_id})"
        self._logger.warn(message, count=count, kind=kind, **fields)
        return True


#: The 503s that database errors turn into (``_dberrors``), from any worker thread.
DATABASE_ERRORS = OutageLog(Logger(namespace="chinook_svc.restless.dberrors"))

__all__ = ["DATABASE_ERRORS", "INTERVAL", "OutageLog"]
