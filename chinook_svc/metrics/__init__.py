"""Prometheus metrics of the whole service: ``GET /metrics`` (or ``--metrics-listen``).

The metric families (:mod:`.families`), the statement timer (:mod:`.statements`),
the HTTP side (:mod:`.http`: requests by route template, the page) and their
wiring into a process or a ``--workers`` parent (:mod:`.wiring`).  The engine
and ``/aggregate`` know nothing of Prometheus: they are given observers.
"""

from .families import ServiceMetrics
from .http import MeasuredRoot, MetricsPage, route_template
from .wiring import (
    MULTIPROC_ENV,
    Instruments,
    SharedDirectory,
    process_instruments,
    supervisor_instruments,
)

__all__ = [
    "MULTIPROC_ENV",
    "Instruments",
    "MeasuredRoot",
    "MetricsPage",
    "ServiceMetrics",
    "SharedDirectory",
    "process_instruments",
    "route_template",
    "supervisor_instruments",
]
