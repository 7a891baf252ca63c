"""The process's open-file limit: raised to the hard limit at start-up, and what fits in it.

Every upstream call in flight holds a socket, as does every idle upstream
connection kept for reuse and every client connection.  Many systems start
processes with a soft ``RLIMIT_NOFILE`` of 1024 and a far higher hard limit,
which an unprivileged process may raise its soft limit to.
:func:`raise_open_file_limit` does that once, at start-up (the service wiring
calls it and logs the result), and
:meth:`~chinook_svc.aggregate.settings.AggregateSettings.within_descriptors`
then lowers the fan-out's bounds if they still do not fit.
"""

from __future__ import annotations

import resource
from collections.abc import Callable

from attrs import frozen

#: Never ask for more than this, even when the hard limit is "unlimited".
CEILING = 1 << 20

GetLimit = Callable[[int], tuple[int, int]]
SetLimit = Callable[[int, tuple[int, int]], None]


@frozen
class OpenFileLimit:
    """The soft open-file limit before and after :func:`raise_open_file_limit`.

    Attributes:
        before: the soft limit the process started with.
        after: the soft limit now.
        hard: the hard limit (at most :data:`CEILING`).
        error: why raising it failed, if it did.
    """

    before: int
    after: int
    hard: int
    error: str | None = None

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.error is not None:
            return f"Open-file limit stays at {self.after} (raising it failed: {self.error})"
        if self.after > self.before:
            return f"Open-file limit raised from {self.before} to {self.after} (the hard limit)"
        return f"Open-file limit is {self.after} (the hard limit)"


def raise_open_file_limit(
    getrlimit: GetLimit = resource.getrlimit, setrlimit: SetLimit = resource.setrlimit
) -> OpenFileLimit:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (at most :data:`CEILING`).

    Args:
        getrlimit: ``resource.getrlimit`` (tests pass their own).
        setrlimit: ``resource.setrlimit``.
    """
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    target = CEILING if hard == resource.RLIM_INFINITY else min(hard, CEILING)
    if soft == resource.RLIM_INFINITY or soft >= target:
        current = CEILING if soft == resource.RLIM_INFINITY else soft
        return OpenFileLimit(current, current, target)
    try:
        setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        return OpenFileLimit(soft, soft, target, error=str(e))
    return OpenFileLimit(soft, target, target)


__all__ = ["OpenFileLimit", "raise_open_file_limit"]
