"""The open-file limit: raised to the hard limit at start-up, logged; the bounds fitted to it."""

from __future__ import annotations

import resource

from twisted.logger import capturedLogs, formatEvent

from chinook_svc.aggregate.fdlimit import CEILING, raise_open_file_limit
from chinook_svc.aggregate.settings import AggregateSettings
from chinook_svc.tap_aggregate import fit_open_file_limit


class Limits:
    """A fake ``getrlimit``/``setrlimit`` pair holding one (soft, hard) limit."""

    def __init__(self, soft: int, hard: int, refuse: bool = False) -> None:
        self.value = (soft, hard)
        self.refuse = refuse

    def get(self, which: int) -> tuple[int, int]:
        """The limit."""
        assert which == resource.RLIMIT_NOFILE
        return self.value

    def set(self, which: int, value: tuple[int, int]) -> None:
        """Set the limit, or fail as a hardened system might."""
        assert which == resource.RLIMIT_NOFILE
        if self.refuse:
            raise ValueError("not allowed")
        self.value = value


def test_soft_limit_is_raised_to_the_hard_limit() -> None:
    """1024 of 524288: raised to 524288, and the log line says so."""
    limits = Limits(1024, 524288)
    result = raise_open_file_limit(limits.get, limits.set)
    assert limits.value == (524288, 524288)
    assert (result.before, result.after, result.hard) == (1024, 524288, 524288)
    assert result.describe() == "Open-file limit raised from 1024 to 524288 (the hard limit)"


def test_unlimited_hard_limit_is_capped() -> None:
    """An unlimited hard limit: the soft one goes to the ceiling, not to "unlimited"."""
    limits = Limits(1024, resource.RLIM_INFINITY)
    assert raise_open_file_limit(limits.get, limits.set).after == CEILING
    assert limits.value == (CEILING, resource.RLIM_INFINITY)


def test_nothing_to_raise_or_not_allowed() -> None:
    """Already at the hard limit: untouched; a refusal is reported, not raised."""
    at_hard = Limits(4096, 4096)
    assert raise_open_file_limit(at_hard.get, at_hard.set).describe() == (
        "Open-file limit is 4096 (the hard limit)"
    )
    refused = raise_open_file_limit(Limits(256, 4096, refuse=True).get, Limits(0, 0, True).set)
    assert (refused.after, refused.error) == (256, "not allowed")
    assert refused.describe() == "Open-file limit stays at 256 (raising it failed: not allowed)"


def test_this_process_runs_at_its_hard_limit() -> None:
    """For real: after the call, the soft limit of this process is its hard limit (or the cap)."""
    result = raise_open_file_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == result.after == min(hard if hard != resource.RLIM_INFINITY else CEILING, CEILING)


def test_service_wiring_logs_the_limit_and_fits_the_bounds() -> None:
    """The wiring logs the limit; bounds over half the descriptors are lowered, with a warning."""
    with capturedLogs() as events:
        fitted = fit_open_file_limit(AggregateSettings(max_in_flight=10**6, per_client=10**6))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert fitted.max_in_flight == fitted.per_client == soft // 2
    lines = [formatEvent(e) for e in events]
    assert lines[0].startswith("Open-file limit ")
    assert lines[1] == (
        f"Upstream calls in flight lowered from 1000000 to {soft // 2} to fit the open-file "
        f"limit of {soft}"
    )
