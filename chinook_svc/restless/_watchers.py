"""How a process hears of writes made by other instances: one blocking watcher per mechanism.

A watcher runs in a thread of its own (``_invalidation.WatchService``): it
connects, then waits for news of a write, again and again; any error ends
the connection (the cache is bypassed until it is back).

* :class:`PostgresListener`: ``LISTEN`` on a connection of its own; every
  write transaction of every instance sends ``NOTIFY`` (``_invalidation``),
  delivered when it commits.
* :class:`SqliteDataVersion`: polls ``PRAGMA data_version`` on a read-only
  connection of its own; it changes whenever any other connection (of any
  process) commits to the file, our own writes, other instances' and SQL by
  hand alike.
* :class:`RedisSubscriber`: ``SUBSCRIBE`` to a Redis channel every instance's
  writes publish to after they commit (``--cache-redis``; for MariaDB).

Each speaks its protocol directly (psycopg, sqlite3, a socket): none touches
the reactor.
"""

from __future__ import annotations

import select
import socket
import sqlite3
from typing import Any, Protocol
from urllib.parse import urlsplit

from ._sqlite import SqliteAccess, sqlite_uri

#: The channel writes announce themselves on (PostgreSQL ``NOTIFY``, Redis ``PUBLISH``).
CHANNEL = "chinook_cache"


class Watcher(Protocol):
    """Blocking calls, made from one dedicated thread."""

    def connect(self) -> None:
        """Open the connection and subscribe; news seen by :meth:`wait` is from after this."""

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds: whether a write was heard of (raises when the
        connection is lost)."""

    def close(self) -> None:
        """Close the connection (quietly)."""


class PostgresListener:
    """``LISTEN chinook_cache`` on a psycopg connection of its own.

    Args:
        conninfo: a libpq connection string or URL.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: Any = None

    def connect(self) -> None:
        """Connect (TCP keepalives notice a silent peer within ~10 s) and ``LISTEN``."""
        import psycopg

        self._conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Whether a ``NOTIFY`` arrived within ``timeout``."""
        return any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteDataVersion:
    """Polls ``PRAGMA data_version`` of a SQLite file every ``interval`` seconds.

    Args:
        path: the database file.
        interval: seconds between polls (the bound on what other processes'
            writes leave stale, plus the reactor's delay).
        sleep: waits (the owner's stop event's ``wait``, so a stop is not delayed).
    """

    def __init__(self, path: str, interval: float, sleep: Any) -> None:
        self.path = path
        self.interval = interval
        self._sleep = sleep
        self._conn: sqlite3.Connection | None = None
        self._version: Any = None

    def connect(self) -> None:
        """Open the file read-only and read its version."""
        uri = sqlite_uri(self.path, SqliteAccess.READ_ONLY)  # as the service reads a user's file
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=1.0)
        self._version = self._read()

    def _read(self) -> Any:
        assert self._conn is not None  # nosec B101: connect() comes first
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def wait(self, timeout: float) -> bool:
        """Whether the version changed after sleeping ``min(interval, timeout)``."""
        self._sleep(min(self.interval, timeout))
        version = self._read()
        changed = version != self._version
        self._version = version
        return bool(changed)

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def redis_command(*parts: str) -> bytes:
    """One command in Redis's protocol (RESP arrays of bulk strings)."""
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_address(url: str) -> tuple[str, int, int]:
    """Host, port and database number of a ``redis://host[:port][/db]`` URL (``ValueError``)."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme != "redis" or not parts.hostname or not (db.isdigit() or not db):
        raise ValueError("expected a redis://host[:port] URL")
    return parts.hostname, parts.port or 6379, int(db) if db else 0


def parse_redis_url(value: object) -> str:
    """A setting's ``redis://host[:port]`` URL, stripped (``ValueError`` otherwise)."""
    text = value.strip() if isinstance(value, str) else ""
    redis_address(text)
    return text


class RedisSubscriber:
    """``SUBSCRIBE chinook_cache`` on a Redis connection of its own.

    Args:
        url: ``redis://host:port`` (pub/sub ignores the database number).
    """

    def __init__(self, url: str) -> None:
        self.host, self.port, _ = redis_address(url)
        self._sock: socket.socket | None = None

    def connect(self) -> None:
        """Connect and subscribe; wait for Redis to confirm the subscription."""
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock
        sock.sendall(redis_command("SUBSCRIBE", CHANNEL))
        reply = b""
        while reply.count(b"\r\n") < 6:  # *3 $9 subscribe $13 channel :1
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            reply += chunk
        if not reply.startswith(b"*3\r\n$9\r\nsubscribe"):
            raise ConnectionError(f"Redis refused SUBSCRIBE: {reply[:80]!r}")

    def wait(self, timeout: float) -> bool:
        """Whether a message arrived within ``timeout`` (every message is a write's)."""
        assert self._sock is not None  # nosec B101: connect() comes first
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if not readable:
            return False
        if not self._sock.recv(65536):
            raise ConnectionError("Redis closed the connection")
        return True

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class RedisPublisher:
    """``PUBLISH chinook_cache`` after a write commits, from the thread that wrote.

    One short connection per write: writes are rare next to reads, and a
    connection per thread would need closing from that thread.
    """

    def __init__(self, url: str) -> None:
        self.host, self.port, _ = redis_address(url)

    def publish(self) -> None:
        """Publish; raises ``OSError`` if Redis cannot be reached or refuses."""
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(redis_command("PUBLISH", CHANNEL, "w"))
            reply = sock.recv(64)
        if not reply.startswith(b":"):
            raise ConnectionError(f"Redis refused PUBLISH: {reply!r}")


__all__ = [
    "CHANNEL",
    "PostgresListener",
    "RedisPublisher",
    "RedisSubscriber",
    "SqliteDataVersion",
    "Watcher",
    "parse_redis_url",
    "redis_address",
    "redis_command",
]
