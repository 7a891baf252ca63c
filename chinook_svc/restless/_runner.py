"""Where blocking work runs: a thread pool, or inline for unit tests.

Route handlers hand every database call to a :class:`Runner`; they never
block the reactor thread.  :class:`ThreadPoolRunner` is the real one
(``deferToThreadPool`` on a pool the caller owns or the runner owns);
:class:`InlineRunner` runs the call at once, so that ``StubTreq`` tests need
no threads and no running reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")


class Runner(Protocol):
    """Runs a blocking callable somewhere other than the reactor thread."""

    def run(self, f: Callable[..., T], *args: Any) -> Deferred[T]:
        """Call ``f(*args)`` and fire with its result."""


class ThreadPoolRunner:
    """Runs calls in a :class:`ThreadPool`, results delivered on the reactor thread."""

    def __init__(self, reactor: IReactorFromThreads, pool: ThreadPool) -> None:
        self._reactor = reactor
        self.pool = pool

    def run(self, f: Callable[..., T], *args: Any) -> Deferred[T]:
        """``deferToThreadPool(reactor, pool, f, *args)``."""
        return deferToThreadPool(self._reactor, self.pool, f, *args)


class InlineRunner:
    """Runs calls synchronously (unit tests only)."""

    def run(self, f: Callable[..., T], *args: Any) -> Deferred[T]:
        """Call ``f`` now; the Deferred has already fired."""
        try:
            return succeed(f(*args))
        except BaseException:
            return fail(Failure())
