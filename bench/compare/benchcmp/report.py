"""Medians over interleaved rounds, chinook_svc-to-peer ratios, and the markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .wrk import WrkResult

#: What the lead's targets ask of chinook_svc (issue 6).
TARGET_RATIO = 2.0
TARGET_CEILING_SHARE = 0.40


@dataclass(frozen=True)
class Measurement:
    """One timed cell: a target on an endpoint in one round."""

    round: int
    target: str
    endpoint: str
    result: WrkResult


@dataclass(frozen=True)
class Summary:
    """The medians (and spread) of one target on one endpoint over the rounds."""

    runs: int
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    timeouts: int


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(measurements: Iterable[Measurement]) -> dict[tuple[str, str], Summary]:
    """Per (target, endpoint): median req/s, p50 and p99; total errors and timeouts."""
    cells: dict[tuple[str, str], list[WrkResult]] = {}
    for m in measurements:
        cells.setdefault((m.target, m.endpoint), []).append(m.result)
    summaries = {}
    for key, results in cells.items():
        rps = [r.requests_per_second for r in results]
        summaries[key] = Summary(
            runs=len(results),
            rps=statistics.median(rps),
            rps_min=min(rps),
            rps_max=max(rps),
            p50_ms=_median(r.p50_ms for r in results),
            p99_ms=_median(r.p99_ms for r in results),
            errors=sum(r.errors for r in results),
            timeouts=sum(r.timeouts for r in results),
        )
    return summaries


def paired_ratio(
    measurements: Sequence[Measurement], numerator: str, denominator: str, endpoint: str
) -> float | None:
    """Median over rounds of numerator req/s ÷ denominator req/s, each ratio within one round.

    Rounds interleave the targets, so a ratio taken inside a round compares
    runs made close together: the machine's noise cancels better than in a
    ratio of medians.
    """
    by_round: dict[int, dict[str, float]] = {}
    for m in measurements:
        if m.endpoint == endpoint and m.target in (numerator, denominator):
            by_round.setdefault(m.round, {})[m.target] = m.result.requests_per_second
    ratios = [
        r[numerator] / r[denominator]
        for r in by_round.values()
        if numerator in r and denominator in r and r[denominator] > 0
    ]
    return statistics.median(ratios) if ratios else None


def fmt_rps(value: float | None) -> str:
    """Requests per second, thousands separated."""
    return "" if value is None else f"{value:,.0f}"


def fmt_ms(value: float | None) -> str:
    """Milliseconds with sensible precision."""
    if value is None:
        return ""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_ratio(value: float | None) -> str:
    """A ratio as ``2.41x``."""
    return "" if value is None else f"{value:.2f}x"


def fmt_percent(value: float | None) -> str:
    """A share as ``43%``."""
    return "" if value is None else f"{100 * value:.0f}%"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers-looking columns right-aligned."""
    rows = [[str(c) for c in row] for row in rows]
    align = []
    for i, _ in enumerate(headers):
        column = [row[i] for row in rows if row[i]]
        numeric = column and all(_numeric(c) for c in column)
        align.append("---:" if numeric else "---")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("x", "").replace("%", "").replace("-", "")
    stripped = stripped.replace(".", "").replace("/", "").replace(" ", "")
    return stripped.isdigit()


def results_table(
    summaries: Mapping[tuple[str, str], Summary],
    measurements: Sequence[Measurement],
    endpoints: Sequence[tuple[str, str]],
    targets: Sequence[tuple[str, str, int]],
    reference: str,
    excluded: Mapping[tuple[str, str], str],
) -> str:
    """One row per endpoint and target: req/s, spread, p50, p99, errors, chinook_svc ÷ target.

    Args:
        endpoints: (key, title) in display order.
        targets: (name, label, processes) in display order.
        reference: the target every ratio is taken against (chinook_svc).
        excluded: cells that failed the correctness gate, with the reason.
    """
    rows = []
    for key, title in endpoints:
        first = True
        for name, label, processes in targets:
            summary = summaries.get((name, key))
            why = excluded.get((name, key))
            if summary is None and why is None:
                continue
            head = f"{key} {title}" if first else ""
            first = False
            if summary is None:
                rows.append([head, label, processes, "excluded", "", "", "", "", why or ""])
                continue
            ratio = (
                "—"
                if name == reference
                else fmt_ratio(paired_ratio(measurements, reference, name, key))
            )
            rows.append(
                [
                    head,
                    label,
                    processes,
                    fmt_rps(summary.rps),
                    f"{fmt_rps(summary.rps_min)}-{fmt_rps(summary.rps_max)}",
                    fmt_ms(summary.p50_ms),
                    fmt_ms(summary.p99_ms),
                    f"{summary.errors}/{summary.timeouts}",
                    ratio,
                ]
            )
    headers = [
        "endpoint",
        "target",
        "procs",
        "req/s",
        "req/s range",
        "p50 ms",
        "p99 ms",
        "errors/timeouts",
        "chinook_svc ÷ target",
    ]
    return markdown_table(headers, rows)


def goals_table(
    summaries: Mapping[tuple[str, str], Summary],
    measurements: Sequence[Measurement],
    endpoint_keys: Sequence[str],
    peers: Sequence[tuple[str, str]],
    reference: str,
    cache: str | None,
) -> str:
    """Per endpoint: chinook_svc against the best peer (≥2x req/s and a lower p99?)."""
    rows = []
    for key in endpoint_keys:
        ours = summaries.get((reference, key))
        measured = [(summaries[(n, key)], n, label) for n, label in peers if (n, key) in summaries]
        if ours is None or not measured:
            continue
        best, best_name, best_label = max(measured, key=lambda m: m[0].rps)
        ratio = paired_ratio(measurements, reference, best_name, key)
        lower_p99 = (
            ours.p99_ms is not None and best.p99_ms is not None and ours.p99_ms < best.p99_ms
        )
        clean = ours.errors == 0 and ours.timeouts == 0
        met = ratio is not None and ratio >= TARGET_RATIO and lower_p99 and clean
        row = [
            key,
            fmt_rps(ours.rps),
            best_label,
            fmt_rps(best.rps),
            fmt_ratio(ratio),
            f"{fmt_ms(ours.p99_ms)} vs {fmt_ms(best.p99_ms)}",
            f"{ours.errors}/{ours.timeouts}",
            "yes" if met else "no",
        ]
        if cache is not None:
            cached = summaries.get((cache, key))
            row.insert(2, fmt_rps(cached.rps) if cached else "")
        rows.append(row)
    headers = [
        "endpoint",
        "chinook_svc req/s",
        "best peer",
        "its req/s",
        "ratio (goal ≥2x)",
        "p99 ms ours vs its",
        "our errors/timeouts",
        "met",
    ]
    if cache is not None:
        headers.insert(2, "chinook_svc + cache req/s")
    return markdown_table(headers, rows)


def statements_table(
    counts: Mapping[str, Mapping[str, float | None]],
    endpoint_keys: Sequence[str],
    labels: Mapping[str, str],
) -> str:
    """SQL statements per request, per target and endpoint."""
    rows = []
    for name, per_endpoint in counts.items():
        cells = [per_endpoint.get(k) for k in endpoint_keys]
        if all(c is None for c in cells):
            continue
        rows.append(
            [
                labels.get(name, name),
                *("" if c is None else f"{c:.1f}".removesuffix(".0") for c in cells),
            ]
        )
    return markdown_table(["target", *endpoint_keys], rows)
