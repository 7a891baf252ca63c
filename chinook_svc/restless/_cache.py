"""An optional response cache for read-mostly deployments, that stays correct.

Successful GET answers are kept for ``ttl`` seconds (an LRU bounded in bytes
and entries) and served straight from the reactor thread, without touching
the thread pool or the database.

Writes may change any answer (an answer inlines related rows and filters on
them, and the database cascades), so invalidation is global, by generation:

* every write made by any process of the instance bumps that process's slot
  in the instance's shared generation table (``_generations``) before its
  answer is sent; every lookup compares the table with the one it last saw
  (a memory compare, no system call) and forgets everything when it moved;
* another instance's write reaches this process through a watcher
  (``_invalidation``: PostgreSQL ``LISTEN``, SQLite's ``data_version``, or
  Redis), which calls :meth:`ResponseCache.expire`; while a watcher cannot
  vouch for freshness (its connection is lost) it marks the cache
  unavailable and every request bypasses it;
* an answer computed while any of this happened is not stored (the
  :meth:`~ResponseCache.token` taken before the query differs afterwards).

The TTL bounds staleness after writes nothing watches (SQL run by hand on
MariaDB, or on PostgreSQL without ``NOTIFY``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from twisted.internet.interfaces import IReactorTime

from ._generations import SharedGenerations
from ._representation import Representation

#: What :meth:`ResponseCache.token` returns: this process's expiries and the shared table.
Token = tuple[int, bytes]


class ResponseCache:
    """Cached GET representations by request key.

    Args:
        clock: tells the time (TTL).
        ttl: seconds an entry stays fresh.
        generations: the instance's shared write generations (default: this
            process's own, for a single process).
        max_bytes: bound on the cached bodies' total size.
        max_entries: bound on the number of entries.
    """

    def __init__(
        self,
        clock: IReactorTime,
        ttl: float,
        *,
        generations: SharedGenerations | None = None,
        max_bytes: int = 64 << 20,
        max_entries: int = 10_000,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._clock = clock
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Representation]] = OrderedDict()
        self._bytes = 0
        self._generations = generations or SharedGenerations.private()
        self._table = self._generations.table
        #: the shared table as last seen by this process
        self._seen = self._table.raw
        #: expiries this process learned of otherwise (another instance wrote, a watcher's state)
        self._expiries = 0
        #: False while a watcher cannot vouch for freshness: lookups bypass the cache
        self.available = True
        # -- counters (read by the metrics; plain integers, the reactor thread writes them) --
        #: lookups answered from memory
        self.hits = 0
        #: lookups that found nothing fresh (the answer is computed)
        self.misses = 0
        #: lookups that skipped the cache because it was unavailable
        self.bypassed = 0
        #: entries dropped for room (LRU) or past their TTL
        self.evictions = 0
        #: times everything was forgotten (a write here, in another worker or instance)
        self.invalidations = 0

    # -- lookups ------------------------------------------------------------------

    def _current(self) -> bytes:
        """The shared table now; forget everything if it moved since last seen."""
        seen: bytes = self._table.raw
        if seen != self._seen and self.available:
            self._seen = seen
            self._forget()
        return seen

    def _resync(self) -> bool:
        """The table moved (or the cache is unavailable): whether the cache may be used."""
        if not self.available:
            self.bypassed += 1
            return False
        self._seen = self._table.raw
        self._forget()
        return True

    def get(self, key: Hashable) -> Representation | None:
        """The fresh entry for ``key``, if any."""
        # The hit path: one memory compare (while unavailable, ``_seen`` matches nothing).
        if self._table.raw != self._seen and not self._resync():
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock.seconds():
            if entry is not None:
                self._drop(key)
                self.evictions += 1
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def token(self) -> Token:
        """Take before computing an answer; :meth:`put` keeps it only if nothing changed since."""
        return (self._expiries, self._current())

    def put(self, key: Hashable, representation: Representation, token: Token) -> None:
        """Keep ``representation`` unless a write or expiry happened since ``token``."""
        if token != (self._expiries, self._current()) or not self.available:
            return
        size = len(representation.reply.body)
        if size > self.max_bytes // 4:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self._clock.seconds() + self.ttl, representation)
        self._bytes += size
        while self._entries and (
            self._bytes > self.max_bytes or len(self._entries) > self.max_entries
        ):
            self._drop(next(iter(self._entries)))
            self.evictions += 1

    # -- invalidation -------------------------------------------------------------------

    def invalidate(self) -> None:
        """A write of this process went through: tell every worker, forget everything.

        Call it before the write's answer is sent.
        """
        self._generations.bump()
        self._seen = self._table.raw
        self._forget()

    def expire(self) -> None:
        """Another instance wrote (a watcher heard it): forget everything here."""
        self._expiries += 1
        self._forget()

    def set_available(self, available: bool) -> None:
        """A watcher lost (``False``) or regained (``True``) its view of other instances' writes."""
        if available != self.available:
            self.available = available
            self._seen = self._table.raw if available else b""  # b"": every lookup resyncs
            self.expire()

    def _forget(self) -> None:
        self._entries.clear()
        self._bytes = 0
        self.invalidations += 1

    def _drop(self, key: Hashable) -> None:
        _, representation = self._entries.pop(key)
        self._bytes -= len(representation.reply.body)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["ResponseCache", "Token"]
