"""Which database connections each thread holds, so a stuck call's connection can be broken.

A database that stops answering mid-statement (a network partition, a hung
server) leaves the thread waiting in the driver for as long as the stall
lasts: the server cannot enforce its statement timeout, and the client's
kernel sees nothing wrong with the connection.  The runner answers the
client at its deadline (``_runner.ThreadPoolRunner``); :meth:`HeldConnections.abort`
then gets the thread back, using the drivers' own means:

* PostgreSQL (psycopg 3 or 2) and MySQL/MariaDB (PyMySQL, mysqlclient): the
  connection's socket is shut down, so the blocked read fails at once with a
  "connection lost" error;
* SQLite: ``interrupt()``, which stops the running statement.

The connection is then discarded rather than returned to the pool: SQLAlchemy
invalidates it on the error, and if the call finished anyway, it is
invalidated when it is checked in.

Checked-out connections are recorded per thread through the pool's
``checkout``/``checkin`` events.  So that a connection is recorded while it
is being pre-pinged too (a stalled connection hangs in the ping), the ping is
done here, after recording, instead of by SQLAlchemy's ``pool_pre_ping``:
the same ``SELECT 1``, and on a disconnect the same reaction (the connection
and every older one in the pool are replaced).

The ping is a round trip to the server on every request.  A connection back
in the pool for less than ``ping_after`` seconds (one second by default) is
not pinged: it has just answered.  If it died in that second anyway, its
request fails as a disconnect (503, ``Retry-After: 1``), which replaces it
and every older connection, exactly as a failed ping would have.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

_FRESH = "chinook_fresh"
_ABORTED = "chinook_aborted"
_RETURNED_AT = "chinook_returned_at"

#: Seconds a connection may have been back in the pool and still skip the ping.
PING_AFTER = 1.0
_BY_POOL: weakref.WeakKeyDictionary[Pool, HeldConnections] = weakref.WeakKeyDictionary()


def _socket_of(dbapi_connection: Any) -> socket.socket | None:
    """The connection's socket: PyMySQL's own, or one on a copy of the driver's descriptor."""
    sock = getattr(dbapi_connection, "_sock", None)  # PyMySQL
    if isinstance(sock, socket.socket):
        return sock
    fd: Any = None
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3
    if pgconn is not None:
        fd = pgconn.socket
    elif callable(getattr(dbapi_connection, "fileno", None)):  # psycopg2, mysqlclient
        fd = dbapi_connection.fileno()
    if not isinstance(fd, int) or fd < 0:
        return None
    return socket.socket(fileno=os.dup(fd))


def break_connection(dbapi_connection: Any) -> bool:
    """Make whatever a thread waits for on this DBAPI connection fail at once (any thread).

    Returns:
        Whether there was something to break.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.interrupt()
        return True
    try:
        sock = _socket_of(dbapi_connection)
    except OSError:  # the driver already closed it
        return False
    if sock is None:
        return False
    with contextlib.suppress(OSError):  # already shut down or closed by the peer
        sock.shutdown(socket.SHUT_RDWR)
    if sock is not getattr(dbapi_connection, "_sock", None):
        sock.close()  # our copy of the descriptor only
    return True


class HeldConnections:
    """Records, per thread, the connections checked out of ``engine``'s pool.

    Args:
        engine: the engine (its pool's events are listened to).
        pre_ping: ping a connection taken from the pool before handing it
            out, as ``pool_pre_ping`` would (fresh connections are not pinged).
        ping_after: nor are connections back in the pool for less than this
            many seconds.
    """

    def __init__(
        self, engine: Engine, *, pre_ping: bool = False, ping_after: float = PING_AFTER
    ) -> None:
        self._dialect = engine.dialect
        self.pre_ping = pre_ping
        self.ping_after = ping_after
        self._lock = threading.Lock()
        self._held: dict[int, dict[int, tuple[Any, Any]]] = {}
        event.listen(engine, "connect", self._connected)
        event.listen(engine, "checkout", self._checked_out)
        event.listen(engine, "checkin", self._checked_in)
        # Before the pool closes a connection (its descriptor may then be reused).
        for closing in ("invalidate", "soft_invalidate", "close", "detach"):
            event.listen(engine, closing, self._closing)
        # dispose() replaces the pool (the listeners move with it).
        event.listen(engine, "engine_disposed", lambda e: _BY_POOL.__setitem__(e.pool, self))
        _BY_POOL[engine.pool] = self

    # -- pool events (in the thread using the connection) ---------------------------

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        with self._lock:
            self._held.setdefault(threading.get_ident(), {})[id(dbapi_connection)] = (
                dbapi_connection,
                record,
            )
        if not self.pre_ping or record.info.pop(_FRESH, False):
            return
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is not None and time.monotonic() - returned_at < self.ping_after:
            return  # it answered less than ping_after seconds ago
        try:
            self._dialect.do_ping(dbapi_connection)
        except Exception as e:
            self._forget(dbapi_connection)
            dbapi_error = self._dialect.loaded_dbapi.Error
            disconnect = isinstance(e, dbapi_error) and self._dialect.is_disconnect(
                e, dbapi_connection, None
            )
            if record.info.get(_ABORTED) or disconnect:
                # As pool_pre_ping: replace this connection and every older one.
                raise sa_exc.InvalidatePoolError() from e
            raise

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:  # invalidated while checked out: forgotten then
            return
        self._forget(dbapi_connection)
        if record is not None and record.info.pop(_ABORTED, False):
            record.invalidate()  # broken on purpose: never hand it out again
        elif record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    def _closing(self, dbapi_connection: Any, record: Any, *args: Any) -> None:
        self._forget(dbapi_connection)

    def _forget(self, dbapi_connection: Any) -> None:
        with self._lock:
            for held in self._held.values():
                held.pop(id(dbapi_connection), None)

    # -- from any thread ----------------------------------------------------------------

    def held_by(self, thread_id: int) -> int:
        """How many connections thread ``thread_id`` holds."""
        with self._lock:
            return len(self._held.get(thread_id, {}))

    def abort(self, thread_id: int) -> int:
        """Break every connection thread ``thread_id`` holds; return how many.

        Safe from any thread (the reactor's, typically).  The thread's call
        fails with a disconnect error, and the connections are discarded.
        """
        broken = 0
        # Under the lock: the pool cannot close one of these (and reuse its
        # descriptor) before it has been forgotten here.
        with self._lock:
            for dbapi_connection, record in self._held.get(thread_id, {}).values():
                if not isinstance(dbapi_connection, sqlite3.Connection):
                    record.info[_ABORTED] = True
                broken += break_connection(dbapi_connection)
        return broken


def held_connections(engine: Engine) -> HeldConnections:
    """The :class:`HeldConnections` of ``engine``'s pool (recorded from now on if none yet)."""
    found = _BY_POOL.get(engine.pool)
    return found if found is not None else HeldConnections(engine)


__all__ = ["HeldConnections", "break_connection", "held_connections"]
