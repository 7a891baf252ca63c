"""``python -m chinook_svc.worker FAMILY``: one worker of ``twistd chinook --workers N``.

Started by :class:`chinook_svc.workers.WorkerPoolService`, never by hand.  It
reads its settings from ``CHINOOK_WORKER_OPTIONS`` (the parent's, with the
database URL resolved), builds the same service as a single process, but
adopts the listening socket inherited as descriptor 3 instead of binding one.
It logs to standard output (the parent relays it), stops on SIGTERM after
draining its requests, and stops when its standard input (a pipe from the
parent) closes, so it never outlives the parent.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

from twisted.internet.protocol import Protocol
from twisted.logger import FileLogObserver, Logger, formatEvent, globalLogBeginner
from twisted.python.failure import Failure

log = Logger()


class WatchParent(Protocol):
    """Stops the reactor when the pipe from the parent closes (the parent is gone)."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def connectionLost(self, reason: Failure | None = None) -> None:
        """The parent closed the pipe or died: stop serving."""
        if self.reactor.running:
            log.info("The parent process is gone; stopping")
            self.reactor.stop()


def _line(event: dict[str, Any]) -> str:
    namespace = event.get("log_namespace", "-")
    level = getattr(event.get("log_level"), "name", "-")
    return f"[{namespace}#{level}] {formatEvent(event)}\n"


def main(argv: list[str]) -> int:
    """Run one worker until SIGTERM or the parent's exit."""
    from twisted.internet import reactor, stdio

    from chinook_svc.config import load_settings
    from chinook_svc.log_format import JSON, JsonLogObserver
    from chinook_svc.log_output import LineWriter
    from chinook_svc.restless import SharedGenerations
    from chinook_svc.tap import build_service
    from chinook_svc.workers import (
        ACCESS_FD_ENV,
        GENERATIONS_ENV,
        GENERATIONS_FD,
        INDEX_ENV,
        OPTIONS_ENV,
        SOCKET_FD,
    )

    family = socket.AddressFamily[argv[1]]
    settings = load_settings(json.loads(os.environ[OPTIONS_ENV]), os.environ)
    observer: Any
    if settings.log_format == JSON:
        # One JSON object a line, which the parent writes out as it is.
        observer = JsonLogObserver(LineWriter(1), worker=int(os.environ.get(INDEX_ENV, "0")))
    else:
        # No timestamps: the parent's log adds its own to every relayed line.
        observer = FileLogObserver(sys.stdout, _line)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    generations = None
    if GENERATIONS_ENV in os.environ:  # one slot per worker, this one's at its index
        generations = SharedGenerations.from_descriptor(
            GENERATIONS_FD, int(os.environ[GENERATIONS_ENV]), int(os.environ[INDEX_ENV])
        )
    stdout_fd = int(os.environ.get(ACCESS_FD_ENV, "1"))
    service = build_service(
        settings,
        reactor,
        adopt=(SOCKET_FD, family),
        generations=generations,
        stdout_fd=stdout_fd,
    )
    devnull = os.open(os.devnull, os.O_WRONLY)
    stdio.StandardIO(  # type: ignore[call-arg]
        WatchParent(reactor), stdin=0, stdout=devnull, reactor=reactor
    )
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
