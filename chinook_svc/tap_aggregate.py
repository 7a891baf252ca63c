"""The ``/aggregate`` part of the service's wiring: its settings, and the open-file limit it needs.

Split from :mod:`chinook_svc.tap`, which builds the service: here the
options and the ``[aggregate]`` table become an
:class:`~chinook_svc.aggregate.AggregateSettings`, and the process's
open-file limit is raised for the fan-out's sockets.
"""

from __future__ import annotations

from twisted.logger import Logger

from chinook_svc.aggregate import AggregateSettings, local_base_url, raise_open_file_limit
from chinook_svc.config import Settings

log = Logger("chinook_svc.tap")


def aggregate_settings_for(settings: Settings) -> AggregateSettings:
    """``/aggregate``'s sources and limits: options over the ``[aggregate]`` table.

    Without configured sources, the built-in demo sources call this service's
    own API (when it listens on TCP).

    Raises:
        ValueError: a source or a limit is not acceptable.
    """
    configured = AggregateSettings.from_options(
        settings.aggregate_sources,
        defaults=AggregateSettings.from_table(settings.table("aggregate")),
        timeout=settings.aggregate_timeout,
        deadline=settings.aggregate_deadline,
        concurrency=settings.aggregate_concurrency,
        max_in_flight=settings.aggregate_max_in_flight,
        per_client=settings.aggregate_per_client,
        per_host=settings.aggregate_per_host,
        max_bytes=settings.aggregate_max_bytes,
    )
    try:
        return configured.or_demo(local_base_url(settings.listen))
    except ValueError:
        return configured  # not a TCP listener: no demo


def fit_open_file_limit(aggregate: AggregateSettings) -> AggregateSettings:
    """Raise the open-file limit to the hard limit (logged); fit the fan-out's bounds in it."""
    limit = raise_open_file_limit()
    log.info(
        "{summary}",
        summary=limit.describe(),
        before=limit.before,
        after=limit.after,
        hard=limit.hard,
    )
    fitted = aggregate.within_descriptors(limit.after)
    if fitted.max_in_flight < aggregate.max_in_flight:
        log.warn(
            "Upstream calls in flight lowered from {wanted} to {fitted} to fit the open-file "
            "limit of {limit}",
            wanted=aggregate.max_in_flight,
            fitted=fitted.max_in_flight,
            limit=limit.after,
        )
    return fitted


__all__ = ["aggregate_settings_for", "fit_open_file_limit"]
