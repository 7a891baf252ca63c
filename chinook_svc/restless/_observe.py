"""What the engine tells an observer (metrics, say) about the work it sheds, drops and caches.

The engine knows nothing about any metrics library: whoever builds it may pass
an :class:`EngineObserver` (``database_threads(observer=...)``,
``APIManager(observer=...)``), and the engine calls it at the few places where
something countable happens.  Every call is made on the reactor thread, is
cheap, and must not raise.  :data:`UNOBSERVED` (the default) ignores them all.
What can be read at any time (threads busy, calls waiting) is not pushed but
read from the runner (``ThreadPoolRunner.busy``, ``ThreadPoolRunner.waiting``).
"""

from __future__ import annotations

from typing import Protocol

#: What a response-cache lookup found: an answer, none, or a cache that could not be used
#: (a watcher of other instances' writes is disconnected).
HIT = "hit"
MISS = "miss"
BYPASSED = "bypassed"
#: Why a response-cache entry went away.
EXPIRED = "expired"  # its TTL passed
CAPACITY = "capacity"  # the cache's bound on bytes or entries pushed it out
INVALIDATED = "invalidated"  # a write (here, in another worker or instance) emptied the cache


class EngineObserver(Protocol):
    """Told about shed calls, calls past their deadline, and response-cache traffic."""

    def shed(self, pool: str, cost: str) -> None:
        """A call of ``cost`` (``"light"``, ``"heavy"``) was refused: its lane was full."""

    def overdue(self, pool: str) -> None:
        """A call in ``pool`` was not done within its deadline (answered 503)."""

    def cache_lookup(self, result: str) -> None:
        """The response cache was asked: :data:`HIT`, :data:`MISS` or :data:`BYPASSED`."""

    def cache_dropped(self, reason: str, count: int) -> None:
        """``count`` cache entries went away, for ``reason`` (:data:`EXPIRED` ...)."""


class _Unobserved:
    """An observer that ignores everything."""

    def shed(self, pool: str, cost: str) -> None:
        """Ignored."""

    def overdue(self, pool: str) -> None:
        """Ignored."""

    def cache_lookup(self, result: str) -> None:
        """Ignored."""

    def cache_dropped(self, reason: str, count: int) -> None:
        """Ignored."""


#: The observer of an engine nobody observes.
UNOBSERVED: EngineObserver = _Unobserved()

__all__ = [
    "BYPASSED",
    "CAPACITY",
    "EXPIRED",
    "HIT",
    "INVALIDATED",
    "MISS",
    "UNOBSERVED",
    "EngineObserver",
]
