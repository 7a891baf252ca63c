"""An optional response cache for read-mostly deployments.

Successful GET answers are kept for ``ttl`` seconds (an LRU bounded in bytes
and entries) and served straight from the reactor thread, without touching
the thread pool or the database.  Any successful write through the same
process empties the cache (a write may change any answer that inlines or
filters on what it touched); the TTL bounds how stale an answer can be after
writes made elsewhere (another worker process, another instance, or SQL).
An answer computed while a write happened is not stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from twisted.internet.interfaces import IReactorTime

from ._observe import CAPACITY, EXPIRED, INVALIDATED, UNOBSERVED, EngineObserver
from ._representation import Representation


class ResponseCache:
    """Cached GET representations by request key.

    Args:
        clock: tells the time (TTL).
        ttl: seconds an entry stays fresh.
        max_bytes: bound on the cached bodies' total size.
        max_entries: bound on the number of entries.
        observer: told about every lookup and every entry that goes away.
    """

    def __init__(
        self,
        clock: IReactorTime,
        ttl: float,
        *,
        max_bytes: int = 64 << 20,
        max_entries: int = 10_000,
        observer: EngineObserver = UNOBSERVED,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._clock = clock
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._observer = observer
        self._entries: OrderedDict[Hashable, tuple[float, Representation]] = OrderedDict()
        self._bytes = 0
        #: Changes on every invalidation; an answer started in an older generation is not kept.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Representation | None:
        """The fresh entry for ``key``, if any."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock.seconds():
            if entry is not None:
                self._drop(key)
                self._observer.cache_dropped(EXPIRED, 1)
            self.misses += 1
            self._observer.cache_lookup(False)
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        self._observer.cache_lookup(True)
        return entry[1]

    def put(self, key: Hashable, representation: Representation, generation: int) -> None:
        """Keep ``representation`` unless a write happened since ``generation``."""
        if generation != self.generation:
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
            self._observer.cache_dropped(CAPACITY, 1)

    def invalidate(self) -> None:
        """Forget everything (a write went through)."""
        if self._entries:
            self._observer.cache_dropped(INVALIDATED, len(self._entries))
        self._entries.clear()
        self._bytes = 0
        self.generation += 1

    def _drop(self, key: Hashable) -> None:
        _, representation = self._entries.pop(key)
        self._bytes -= len(representation.reply.body)

    def __len__(self) -> int:
        return len(self._entries)
