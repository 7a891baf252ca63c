"""Where blocking work runs: a thread pool with bounded, prioritised queues, or inline for tests.

Route handlers hand every database call to a :class:`Runner`; they never
block the reactor thread.  :class:`ThreadPoolRunner` is the real one;
:class:`InlineRunner` runs the call at once, so that ``StubTreq`` tests need
no threads and no running reactor.

:class:`ThreadPoolRunner` admits work the way a loaded service must:

* **Bounded waiting.**  Calls wait for a thread on the reactor side, never
  inside the pool, in two queues (lanes) of at most ``queue_limit`` calls
  each (the service sets it, by default from the thread count:
  :func:`default_queue_limit`; unbounded when not given).  A call that finds
  its lane full fails at once with :class:`Overloaded` (503,
  ``Retry-After: 1``): under overload clients are told in milliseconds,
  instead of waiting seconds behind a queue that only grows.
* **Cheap work first.**  Each call says what it costs (:class:`Cost`).
  Heavy calls (searches, large pages, functions) run on at most
  ``heavy_limit`` threads at once (:func:`default_heavy_limit`: one fewer
  than the pool, one on SQLite), so a thread is always left for cheap calls
  (a row by its key, a first page), and a free thread takes a waiting cheap
  call before a waiting heavy one.
* **A deadline per call.**  With ``deadline`` set, a call not done that many
  seconds after it was asked for (waiting or running) fails with
  :class:`DatabaseUnavailable` (503) at once, whatever the database does.  A
  waiting call leaves its queue; for a running one ``abort(thread_id)`` is
  asked to break the thread's database connection (``_held.HeldConnections``)
  so that the thread comes back too.  Its thread counts as busy until it does.

Refusals and deadlines are logged, at most one line per kind every few
seconds (:class:`~chinook_svc.restless._outages.OutageLog`).
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorFromThreads, IReactorTime
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from ._errors import ApiError, DatabaseUnavailable
from ._outages import OutageLog

T = TypeVar("T")


class Cost(enum.Enum):
    """What a call is expected to cost: it decides the lane it waits in."""

    LIGHT = "light"  # a row by key, a first page: milliseconds
    HEAVY = "heavy"  # searches, large pages, functions: up to the statement timeout


class Overloaded(ApiError):
    """Every thread is busy and the call's queue is full: 503 at once, retry in a second."""

    def __init__(self) -> None:
        super().__init__(503, "Server overloaded", headers={"Retry-After": "1"})


class Runner(Protocol):
    """Runs a blocking callable somewhere other than the reactor thread."""

    def run(self, f: Callable[..., T], *args: Any, cost: Cost = Cost.LIGHT) -> Deferred[T]:
        """Call ``f(*args)`` and fire with its result."""


def default_queue_limit(threads: int) -> int:
    """Calls that may wait per lane: 16 per thread, at least 64.

    Enough that a burst of a few dozen clients (a benchmark's 32 connections,
    a page's parallel fetches) waits a few milliseconds instead of being
    refused; a lane that holds more than this is overload, refused at once.
    """
    return max(64, 16 * threads)


def default_heavy_limit(threads: int, *, in_process: bool = False) -> int:
    """Threads heavy calls may hold at once.

    Args:
        threads: the pool's threads.
        in_process: the database does its work in this process (SQLite):
            heavy calls are then mostly Python work that holds the
            interpreter lock, which more threads do not speed up and which
            the reactor waits for: one heavy call at a time.  Otherwise all
            threads but one (at least one), keeping a thread for cheap calls.
    """
    return 1 if in_process else max(1, threads - 1)


#: Seconds after a refusal during which the load still reads "saturated".
SATURATED_FOR = 1.0


@define(eq=False)
class _Call:
    f: Callable[..., Any]
    args: tuple[Any, ...]
    cost: Cost
    deferred: Deferred[Any] = field(init=False)
    state: str = "waiting"  # waiting -> running -> done; or waiting -> dropped
    thread: int | None = None
    timer: IDelayedCall | None = None


class ThreadPoolRunner:
    """Runs calls in a :class:`ThreadPool`, results delivered on the reactor thread.

    Args:
        reactor: receives results from the threads; if it also provides
            ``IReactorTime``, it times deadlines and recent refusals.
        pool: the pool; ``pool.max`` is the number of threads.
        queue_limit: calls that may wait per lane (``None``: no limit; the
            service passes :func:`default_queue_limit` unless configured).
        heavy_limit: threads heavy calls may hold at once (default: all but one).
        deadline: seconds a call may run before it fails with 503 (``None``: no limit).
        abort: called with the thread id of a call past its deadline, to
            break whatever it waits on.
        name: what the log calls this runner's work.
    """

    def __init__(
        self,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        *,
        queue_limit: int | None = None,
        heavy_limit: int | None = None,
        deadline: float | None = None,
        abort: Callable[[int], object] | None = None,
        name: str = "database",
    ) -> None:
        self._reactor = reactor
        self._clock: IReactorTime | None = reactor if IReactorTime.providedBy(reactor) else None
        self.pool = pool
        threads = pool.max
        self.queue_limit = queue_limit
        self.heavy_limit = default_heavy_limit(threads) if heavy_limit is None else heavy_limit
        self.deadline = deadline
        self._abort = abort
        self._name = name
        self._queues: dict[Cost, deque[_Call]] = {Cost.LIGHT: deque(), Cost.HEAVY: deque()}
        self._running = 0
        self._heavy_running = 0
        self._refused_at = float("-inf")
        self.refused = 0
        self.overdue = 0
        self._log = OutageLog()

    # -- admission ------------------------------------------------------------------

    def run(self, f: Callable[..., T], *args: Any, cost: Cost = Cost.LIGHT) -> Deferred[T]:
        """Run ``f(*args)`` in a thread as soon as one is free for its cost.

        Fails at once with :class:`Overloaded` when the call's lane is full.
        """
        call = _Call(f, args, cost)
        call.deferred = Deferred(lambda d: self._cancel(call))
        if self._may_start(cost):
            self._start(call)
        elif self.refuse_now(cost):
            return fail(Overloaded())
        else:
            self._queues[cost].append(call)
        if self.deadline is not None and self._clock is not None and not call.deferred.called:
            call.timer = self._clock.callLater(self.deadline, self._overdue, call)
        return call.deferred

    def _may_start(self, cost: Cost) -> bool:
        if self._running >= self.pool.max:
            return False
        return cost is Cost.LIGHT or self._heavy_running < self.heavy_limit

    def refuse_now(self, cost: Cost) -> bool:
        """Whether a call of ``cost`` would be refused now; if so, it counts as refused.

        Lets a caller refuse before it does any work for the call (routing,
        copying the request).
        """
        if self._may_start(cost) or self.queue_limit is None:
            return False
        if len(self._queues[cost]) < self.queue_limit:
            return False
        self._refuse(cost)
        return True

    def _refuse(self, cost: Cost) -> None:
        self.refused += 1
        if self._clock is not None:
            self._refused_at = self._clock.seconds()
        self._log.note(
            "overloaded",
            "503 Server overloaded: {count} request(s) refused, the {name} queue for {cost} "
            "work is full ({limit} waiting, {threads} threads busy)",
            name=self._name,
            cost=cost.value,
            limit=self.queue_limit,
            threads=self._running,
        )

    def _cancel(self, call: _Call) -> None:
        """The caller went away: a waiting call leaves its queue; a running one runs on."""
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        if call.state == "waiting":
            call.state = "dropped"
            self._queues[call.cost].remove(call)

    def _pump(self) -> None:
        for cost in (Cost.LIGHT, Cost.HEAVY):
            queue = self._queues[cost]
            while queue and self._may_start(cost):
                self._start(queue.popleft())

    # -- running --------------------------------------------------------------------

    def _start(self, call: _Call) -> None:
        call.state = "running"
        self._running += 1
        if call.cost is Cost.HEAVY:
            self._heavy_running += 1
        self.pool.callInThreadWithCallback(
            lambda ok, result: self._reactor.callFromThread(self._finished, call, ok, result),
            self._in_thread,
            call,
        )

    @staticmethod
    def _in_thread(call: _Call) -> Any:
        call.thread = threading.get_ident()
        if call.deferred.called:  # given up on before a thread took it
            return None
        return call.f(*call.args)

    def _finished(self, call: _Call, ok: bool, result: Any) -> None:
        call.state = "done"
        self._running -= 1
        if call.cost is Cost.HEAVY:
            self._heavy_running -= 1
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        if not call.deferred.called:
            if ok:
                call.deferred.callback(result)
            else:
                call.deferred.errback(result)
        self._pump()

    def _overdue(self, call: _Call) -> None:
        """A call is past its deadline: answer 503 now; drop it, or break its connection."""
        if call.state not in ("waiting", "running"):
            return
        self.overdue += 1
        self._log.note(
            "deadline",
            "503 Database unavailable: {count} {name} call(s) not done within their "
            "{seconds:g} s deadline (running ones get their connections closed)",
            name=self._name,
            seconds=self.deadline,
        )
        if call.state == "waiting":
            call.state = "dropped"
            self._queues[call.cost].remove(call)
        if not call.deferred.called:
            call.deferred.errback(DatabaseUnavailable())
        if call.state == "running" and self._abort is not None and call.thread is not None:
            self._abort(call.thread)

    # -- reporting ------------------------------------------------------------------

    def load(self) -> str:
        """``"saturated"`` (work waits or was refused within a second), ``"busy"``, ``"normal"``."""
        recently = (
            self._clock is not None and self._clock.seconds() - self._refused_at < SATURATED_FOR
        )
        if any(self._queues.values()) or recently:
            return "saturated"
        return "busy" if self._running >= self.pool.max else "normal"


class InlineRunner:
    """Runs calls synchronously (unit tests only)."""

    def run(self, f: Callable[..., T], *args: Any, cost: Cost = Cost.LIGHT) -> Deferred[T]:
        """Call ``f`` now; the Deferred has already fired."""
        try:
            return succeed(f(*args))
        except BaseException:
            return fail(Failure())

    def load(self) -> str:
        """Never anything waiting."""
        return "normal"


__all__ = [
    "Cost",
    "InlineRunner",
    "Overloaded",
    "Runner",
    "ThreadPoolRunner",
    "default_heavy_limit",
    "default_queue_limit",
]
