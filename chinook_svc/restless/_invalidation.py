"""Invalidation between instances: writes announce themselves, a watcher per process hears them.

Within an instance the shared generation table (``_generations``) is enough.
Instances (separate hosts or separate ``twistd`` runs on one database) tell
each other through the database itself where it can, else through Redis:

============  ==================================  ==================================
database      a write announces                   every process hears by
============  ==================================  ==================================
PostgreSQL    ``NOTIFY chinook_cache`` in its     ``LISTEN`` on a connection of its
              transaction (sent on commit)        own (:class:`~._watchers.PostgresListener`)
SQLite file   nothing: committing changes the     polling ``PRAGMA data_version``
              file's ``data_version``             (:class:`~._watchers.SqliteDataVersion`)
MariaDB       ``PUBLISH`` to Redis after commit,  ``SUBSCRIBE`` (:class:`~._watchers.
              before answering (``cache_redis``)  RedisSubscriber`); without Redis: the TTL
============  ==================================  ==================================

:class:`WatchService` runs one watcher in a thread of its own and tells the
cache on the reactor thread (``callFromThread``): :meth:`expire` on news of
a write; unavailable (bypassed) from the start until the watcher is
connected, and again whenever its connection is lost, until it is back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from attrs import frozen
from sqlalchemy.engine import Connection, make_url
from twisted.application.service import Service
from twisted.logger import Logger

from ._cache import ResponseCache
from ._watchers import (
    CHANNEL,
    PostgresListener,
    RedisPublisher,
    RedisSubscriber,
    SqliteDataVersion,
    Watcher,
)

#: Seconds a watcher blocks before looking at its stop flag again.
WAIT = 0.5
#: Reconnection delays: first, cap (doubling in between).
FIRST_RETRY, MAX_RETRY = 0.1, 5.0


@frozen
class Announcer:
    """What a write transaction does so that other instances hear of it.

    Args:
        notify: send PostgreSQL ``NOTIFY`` inside the transaction.
        publisher: publish to Redis once committed.
    """

    notify: bool = False
    publisher: RedisPublisher | None = None

    log = Logger()

    def in_transaction(self, conn: Connection) -> None:
        """Before commit, in the write's transaction (delivered only if it commits)."""
        if self.notify:
            conn.exec_driver_sql(f"NOTIFY {CHANNEL}")

    def committed(self) -> None:
        """After commit, before the answer: a lost publish leaves other instances to the TTL."""
        if self.publisher is None:
            return
        try:
            self.publisher.publish()
        except OSError as e:
            self.log.warn(
                "Could not publish a write to Redis ({error}); other instances may serve "
                "their cached answers until the TTL",
                error=str(e),
            )


class WatchService(Service):
    """Runs ``watcher`` in a thread of its own while the service runs; tells ``cache``.

    Args:
        reactor: receives the watcher's news (``callFromThread``).
        cache: expired on news; bypassed while the watcher is not connected.
        make_watcher: builds the watcher, given a ``sleep(seconds)`` that a
            stop interrupts.
        describe: names the mechanism in the log.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        cache: ResponseCache,
        make_watcher: Callable[[Callable[[float], bool]], Watcher],
        describe: str,
    ) -> None:
        self._reactor = reactor
        self._cache = cache
        self._stop = threading.Event()
        self._watcher = make_watcher(self._stop.wait)
        self._describe = describe
        self._thread: threading.Thread | None = None
        #: times the watcher connected (1 + reconnections)
        self.connections = 0
        self._said_off = False  # log "off" once per outage, not at every retry
        cache.set_available(False)  # until the watcher is connected

    def startService(self) -> None:
        """Start watching."""
        super().startService()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chinook-cache-watch", daemon=True)
        self._thread.start()

    def stopService(self) -> None:
        """Stop watching (the thread notices within ``WAIT`` seconds and closes its connection)."""
        super().stopService()
        self._stop.set()

    # -- in the watcher's thread ------------------------------------------------------

    def _run(self) -> None:
        delay = FIRST_RETRY
        while not self._stop.is_set():
            try:
                self._watcher.connect()
            except Exception as e:  # refused, unreachable, bad credentials ...
                self._watcher.close()
                self._reactor.callFromThread(self._lost, str(e), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_RETRY)
                continue
            delay = FIRST_RETRY
            self._reactor.callFromThread(self._connected)
            try:
                while not self._stop.is_set():
                    if self._watcher.wait(WAIT):
                        self._reactor.callFromThread(self._cache.expire)
            except Exception as e:  # the connection is gone
                if not self._stop.is_set():
                    self._reactor.callFromThread(self._lost, str(e), delay)
            finally:
                self._watcher.close()

    # -- on the reactor thread ------------------------------------------------------------

    def _connected(self) -> None:
        self.connections += 1
        self._said_off = False
        self._cache.set_available(True)
        self.log.info("Cache invalidation by {mechanism} is on", mechanism=self._describe)

    def _lost(self, error: str, retry: float) -> None:
        if not self._said_off:
            self._said_off = True
            self.log.warn(
                "Cache invalidation by {mechanism} is off ({error}); the response cache is "
                "bypassed until it is back (retrying in {retry}s)",
                mechanism=self._describe,
                error=error,
                retry=retry,
            )
        self._cache.set_available(False)


def invalidation_for(
    url: str, *, redis: str | None, poll: float
) -> tuple[Announcer, Callable[[Callable[[float], bool]], Watcher] | None, str]:
    """How the instances serving ``url`` tell each other of writes.

    Returns:
        the announcer for writes, the watcher's factory (``None``: nothing to
        watch, an in-memory SQLite database), and the mechanism's name.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if redis is not None:
        publisher = RedisPublisher(redis)
        return (
            Announcer(publisher=publisher),
            lambda sleep: RedisSubscriber(redis),
            f"Redis pub/sub ({redis})",
        )
    if backend == "postgresql":
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return (
            Announcer(notify=True),
            lambda sleep: PostgresListener(conninfo),
            "PostgreSQL LISTEN/NOTIFY",
        )
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = str(parsed.database)
        return (
            Announcer(),
            lambda sleep: SqliteDataVersion(path, poll, sleep),
            f"SQLite data_version every {poll}s",
        )
    return Announcer(), None, "nothing (TTL only)"


__all__ = ["Announcer", "WatchService", "invalidation_for"]
