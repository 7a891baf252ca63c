"""What the aggregate endpoint answers: an :class:`Outcome` per source, merged in a :class:`Report`.

The report is deterministic: sources are keyed by name (never "whoever
answered last"), and :func:`chinook_svc.restless._serialize.encode` writes the
keys sorted.  Its status is 200 when at least one source answered with a 2xx,
504 when every failure was a timeout, 502 otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import frozen

#: Error kinds.
TIMEOUT = "timeout"
CONNECT = "connect"
TOO_LARGE = "too_large"
BAD_STATUS = "bad_status"
INVALID = "invalid"
INTERNAL = "internal"

#: ``X-Aggregate-Complete``: whether every source answered with a 2xx.
COMPLETE_HEADER = "X-Aggregate-Complete"


def milliseconds(seconds: float) -> float:
    """Seconds as milliseconds, rounded to a tenth."""
    return round(max(seconds, 0.0) * 1000.0, 1)


@frozen
class Outcome:
    """How one upstream call ended.

    Attributes:
        source: the source's name.
        elapsed_ms: from the call's start to its end.
        status: the upstream's HTTP status, if it answered.
        body: the upstream's body (parsed JSON, text, or ``None`` when empty).
        error: the error kind, ``None`` for a 2xx answer.
        message: what went wrong, for people.
    """

    source: str
    elapsed_ms: float
    status: int | None = None
    body: Any = None
    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the source answered with a 2xx."""
        return self.error is None

    def result(self) -> dict[str, Any] | None:
        """The entry under ``results``: every call that got an HTTP answer."""
        if self.status is None:
            return None
        return {"status": self.status, "elapsed_ms": self.elapsed_ms, "body": self.body}

    def failure(self) -> dict[str, Any] | None:
        """The entry under ``errors``: every call that did not get a 2xx answer."""
        if self.error is None:
            return None
        entry: dict[str, Any] = {"error": self.error, "elapsed_ms": self.elapsed_ms}
        if self.message:
            entry["message"] = self.message
        if self.status is not None:
            entry["status"] = self.status
        return entry


@frozen
class Report:
    """The merged answer of one aggregate request.

    Attributes:
        elapsed_ms: from the request's start to the last outcome.
        outcomes: one per source called, in the order they were asked for.
    """

    elapsed_ms: float
    outcomes: tuple[Outcome, ...]

    @classmethod
    def of(cls, elapsed_ms: float, outcomes: Sequence[Outcome]) -> Report:
        """A report of ``outcomes``."""
        return cls(elapsed_ms, tuple(outcomes))

    @property
    def complete(self) -> bool:
        """Whether every source answered with a 2xx."""
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def status(self) -> int:
        """200 if any source succeeded, 504 if every failure was a timeout, else 502."""
        if any(outcome.ok for outcome in self.outcomes):
            return 200
        if self.outcomes and all(outcome.error == TIMEOUT for outcome in self.outcomes):
            return 504
        return 502

    def to_json(self) -> dict[str, Any]:
        """The response body."""
        results = {}
        errors = {}
        for outcome in self.outcomes:
            result = outcome.result()
            if result is not None:
                results[outcome.source] = result
            failure = outcome.failure()
            if failure is not None:
                errors[outcome.source] = failure
        return {
            "complete": self.complete,
            "elapsed_ms": self.elapsed_ms,
            "results": results,
            "errors": errors,
        }

    def headers(self) -> dict[str, str]:
        """Response headers beside the content type."""
        return {COMPLETE_HEADER: "true" if self.complete else "false", "Cache-Control": "no-store"}
