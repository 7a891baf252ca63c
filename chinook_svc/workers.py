"""Several worker processes serving one listening socket (``twistd chinook --workers N``).

The parent process binds the socket, stops accepting on it, and hands it to
N children (as file descriptor 3), each a full single-process service that
adopts it with ``IReactorSocket.adoptStreamPort``; the kernel spreads the
connections among them.  The parent only supervises:

* a worker that exits unexpectedly is started again (with a growing delay
  when it keeps crashing);
* workers watch a pipe from the parent (their standard input) and stop when
  it closes, so they never outlive the parent, even one killed by SIGKILL;
* on SIGTERM the parent asks every worker to stop (each drains its in-flight
  requests), waits for them, then exits;
* the parent creates the workers' shared write-generation table (one slot
  per worker, ``restless._generations``) and hands it to each as descriptor 4,
  so a write in one worker empties every worker's response cache before its
  answer is sent.

Workers log to their standard output; the parent relays each line to its own
log, prefixed with the worker's number.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from chinook_svc.log_format import relayed_event
from chinook_svc.log_output import LineWriter
from chinook_svc.restless import create_table

#: Environment variables a worker reads: its settings (JSON) and its number.
OPTIONS_ENV = "CHINOOK_WORKER_OPTIONS"
INDEX_ENV = "CHINOOK_WORKER_INDEX"
#: Set (to ``ACCESS_FD``) when a worker's access log goes to its parent's standard output.
ACCESS_FD_ENV = "CHINOOK_WORKER_ACCESS_FD"
#: The descriptor the listening socket has in a worker.
SOCKET_FD = 3
#: The descriptor of the shared write-generation table (``restless._generations``) in a
#: worker, and the environment variable giving its number of slots.
GENERATIONS_FD = 4
GENERATIONS_ENV = "CHINOOK_WORKER_GENERATIONS"
#: A worker's access log, when it goes to standard output: a pipe the parent copies out.
ACCESS_FD = 5

#: Restart delays: first, growth factor, cap; a worker alive this long resets them.
FIRST_DELAY, GROWTH, MAX_DELAY, STABLE_AFTER = 0.5, 2.0, 10.0, 30.0


class _RefuseAll(Factory):
    """The parent never accepts connections itself; this factory is never used."""

    def buildProtocol(self, addr: Any) -> Protocol | None:
        return None


class _WorkerProtocol(ProcessProtocol):
    """One worker process, seen from the parent."""

    log = Logger()

    def __init__(self, pool: WorkerPoolService, index: int) -> None:
        self.pool = pool
        self.index = index
        self.ended: Deferred[None] = Deferred()
        self._buffer = b""
        self._access = b""

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """Relay the worker's output to the parent's log, a line at a time.

        The worker's access log (``ACCESS_FD``) is copied out unchanged, in
        whole lines; a JSON log line (``--log-format json``) is logged as it is.
        """
        if childFD == ACCESS_FD:
            self._access += data
            whole, newline, self._access = self._access.rpartition(b"\n")
            if newline and self.pool.access_out is not None:
                self.pool.access_out.write_now(whole + newline)
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            relayed = relayed_event(line) if line.startswith(b"{") else None
            if relayed is not None:
                self.log.observer({**relayed, "log_time": time.time()})
            elif line.strip():
                self.log.info(
                    "[worker {index}] {line}",
                    index=self.index,
                    line=line.decode("utf-8", "replace"),
                )

    def processEnded(self, reason: Failure) -> None:
        """Tell the pool; it decides whether to start another."""
        self.ended.callback(None)
        self.pool.worker_ended(self, reason)


class WorkerPoolService(Service):
    """Binds the listening socket and keeps ``count`` workers serving it.

    Args:
        reactor: provides ``IReactorProcess``, ``IReactorTime`` and listening.
        listen: the endpoint description to bind (``tcp:8080:interface=...``).
        count: how many workers.
        options: the worker's settings, as command-line option values
            (the same ``load_settings`` input the parent had).
        environ: the workers' environment (``CHINOOK_*`` included).
        stop_timeout: seconds to wait for workers on stop before killing them.
        after_stop: called once every worker has exited (the database's
            final tidying up, say).
        access_out: where the workers' access logs go, when they go to
            standard output (``None``: they write their own files, or none).
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        listen: str,
        count: int,
        options: Mapping[str, Any],
        environ: Mapping[str, str],
        stop_timeout: float,
        after_stop: Callable[[], None] | None = None,
        access_out: LineWriter | None = None,
    ) -> None:
        self.reactor = reactor
        self.listen = listen
        self.count = count
        self.options = dict(options)
        self.environ = dict(environ)
        self.stop_timeout = stop_timeout
        self.after_stop = after_stop
        self.access_out = access_out
        self.port: Any = None  # a listening tcp.Port or unix.Port
        self.workers: dict[int, _WorkerProtocol] = {}
        self._delays = dict.fromkeys(range(count), FIRST_DELAY)
        self._started_at: dict[int, float] = {}
        self._pending: dict[int, Any] = {}
        #: the shared write-generation table's descriptor (while workers run)
        self.generations_fd: int | None = None

    def startService(self) -> None:
        """Bind (without accepting), then start the workers."""
        super().startService()
        endpoint = endpoints.serverFromString(self.reactor, self.listen)
        endpoint.listen(_RefuseAll()).addCallbacks(self._listening, self._cannot_listen)

    def _cannot_listen(self, failure: Failure) -> None:
        self.log.failure("Cannot listen on {listen}", failure, listen=self.listen)
        self.reactor.stop()

    def _listening(self, port: Any) -> None:
        port.stopReading()  # the parent never accepts; the workers do
        self.port = port
        self.log.info(
            "Listening on {address} with {count} worker processes",
            address=port.getHost(),
            count=self.count,
        )
        self.generations_fd = create_table(self.count)
        for index in range(self.count):
            self.spawn(index)

    def spawn(self, index: int) -> None:
        """Start worker ``index`` on the shared socket."""
        self._pending.pop(index, None)
        if not self.running or self.port is None:
            return
        protocol = _WorkerProtocol(self, index)
        env = {
            **self.environ,
            OPTIONS_ENV: json.dumps(self.options),
            INDEX_ENV: str(index),
            GENERATIONS_ENV: str(self.count),
            "PYTHONUNBUFFERED": "1",
        }
        child_fds: dict[int, str | int] = {0: "w", 1: "r", 2: "r", SOCKET_FD: self.port.fileno()}
        if self.generations_fd is not None:
            child_fds[GENERATIONS_FD] = self.generations_fd
        if self.access_out is not None:
            child_fds[ACCESS_FD] = "r"
            env[ACCESS_FD_ENV] = str(ACCESS_FD)
        self.reactor.spawnProcess(
            protocol,
            sys.executable,
            [sys.executable, "-m", "chinook_svc.worker", str(self.port.addressFamily.name)],
            env=env,
            childFDs=child_fds,
        )
        self.workers[index] = protocol
        self._started_at[index] = self.reactor.seconds()

    def worker_ended(self, protocol: _WorkerProtocol, reason: Failure) -> None:
        """A worker exited: start it again unless the pool is stopping."""
        index = protocol.index
        if self.workers.get(index) is protocol:
            del self.workers[index]
        if not self.running:
            return
        lived = self.reactor.seconds() - self._started_at.get(index, 0.0)
        if lived >= STABLE_AFTER:
            self._delays[index] = FIRST_DELAY
        delay = self._delays[index]
        self._delays[index] = min(delay * GROWTH, MAX_DELAY)
        self.log.warn(
            "Worker {index} exited ({reason}); starting it again in {delay}s",
            index=index,
            reason=reason.getErrorMessage(),
            delay=delay,
        )
        self._pending[index] = self.reactor.callLater(delay, self.spawn, index)

    def stopService(self) -> Deferred[None]:
        """Ask the workers to stop (SIGTERM), wait (killing laggards), close the socket."""
        super().stopService()
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        workers = list(self.workers.values())
        for worker in workers:
            _signal(worker, signal.SIGTERM)
        done: Deferred[Any] = DeferredList([w.ended for w in workers]) if workers else succeed(None)
        killer = self.reactor.callLater(self.stop_timeout, self._kill, workers)

        def finished(result: object) -> None:
            if killer.active():
                killer.cancel()
            if self.port is not None:
                self.port.stopListening()
                self.port = None
            if self.generations_fd is not None:
                os.close(self.generations_fd)
                self.generations_fd = None
            if self.after_stop is not None:
                self.after_stop()
            self.log.info("All workers stopped")

        return done.addCallback(finished)

    def _kill(self, workers: list[_WorkerProtocol]) -> None:
        for worker in workers:
            if not worker.ended.called:
                self.log.warn("Worker {index} did not stop in time; killing it", index=worker.index)
                _signal(worker, signal.SIGKILL)


def _signal(worker: _WorkerProtocol, signum: int) -> None:
    transport = worker.transport
    if transport is not None and getattr(transport, "pid", None) is not None:
        with contextlib.suppress(OSError):  # already gone
            transport.signalProcess(signum)


def worker_pid() -> int:
    """This process's id (shown by ``/healthz``, so clients can tell workers apart)."""
    return os.getpid()


__all__ = [
    "ACCESS_FD",
    "ACCESS_FD_ENV",
    "GENERATIONS_ENV",
    "GENERATIONS_FD",
    "INDEX_ENV",
    "OPTIONS_ENV",
    "SOCKET_FD",
    "WorkerPoolService",
    "worker_pid",
]
