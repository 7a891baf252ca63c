"""What ``/aggregate`` tells an observer (metrics, say): each upstream call's end, each refusal.

:class:`AggregateObserver` is passed to ``AggregateRoutes(observer=...)``; its
methods are called on the reactor thread, are cheap and must not raise.
:data:`UNWATCHED` (the default) ignores everything.
"""

from __future__ import annotations

from typing import Protocol

#: The outcome of a call that got a 2xx answer (the others are ``report``'s error kinds).
OK = "ok"


class AggregateObserver(Protocol):
    """Told how every upstream call ended and when a request was refused."""

    def upstream_call(self, source: str, outcome: str, seconds: float) -> None:
        """A call to ``source`` ended with ``outcome`` (:data:`OK` or an error kind)."""

    def refused(self, reason: str) -> None:
        """An aggregate request was refused: ``"overloaded"`` (503) or ``"client_busy"`` (429)."""


class _Unwatched:
    """Ignores everything."""

    def upstream_call(self, source: str, outcome: str, seconds: float) -> None:
        """Ignored."""

    def refused(self, reason: str) -> None:
        """Ignored."""


UNWATCHED: AggregateObserver = _Unwatched()

__all__ = ["OK", "UNWATCHED", "AggregateObserver"]
