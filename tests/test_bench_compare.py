"""The comparison benchmark's pure functions: wrk parsing, ratios and tables, id comparison.

The harness itself (``bench/compare``) starts servers and runs for minutes; it
is not part of the test suite.  These checks only keep its arithmetic honest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "compare"))

from benchcmp import report
from benchcmp.endpoints import (
    ENDPOINTS,
    Answer,
    answer_ids,
    compare_answers,
    jsonapi_path,
    jsonapi_to_restless,
    payload_difference,
    restless_path,
)
from benchcmp.targets import parse_cache_option
from benchcmp.wrk import WrkResult, parse_wrk

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8080/api/albums
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.91ms    2.10ms  45.20ms   88.00%
    Req/Sec     4.05k   310.22     4.60k    71.00%
  Latency Distribution
     50%  750.00us
     75%    8.20ms
     90%    9.90ms
     99%    1.20s
  40312 requests in 10.01s, 95.10MB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 2
Requests/sec:   4027.14
Transfer/sec:      9.50MB
"""


def test_parse_wrk_reads_rate_percentiles_and_failures() -> None:
    """Requests/s, p50/p99 in ms whatever wrk's unit, socket errors, timeouts and non-2xx."""
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests_per_second == 4027.14
    assert result.requests == 40312
    assert result.p50_ms == pytest.approx(0.75)
    assert result.p99_ms == pytest.approx(1200.0)
    assert (result.read_errors, result.write_errors, result.timeouts) == (3, 1, 7)
    assert result.errors == 3 + 1 + 2  # timeouts are counted apart


def test_parse_wrk_without_errors_lines() -> None:
    """A clean run has no Socket errors / Non-2xx lines: all zero."""
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = parse_wrk(clean)
    assert result.errors == 0 and result.timeouts == 0


def _measure(round_: int, target: str, rps: float, p99: float = 10.0) -> report.Measurement:
    return report.Measurement(round_, target, "E1", WrkResult(rps, int(rps), p99 / 2, p99))


def test_ratios_pair_runs_of_the_same_round() -> None:
    """The ratio is the median of per-round ratios, not a ratio of medians."""
    measurements = [
        _measure(0, "ours", 100),
        _measure(0, "peer", 50),  # 2.0
        _measure(1, "ours", 300),
        _measure(1, "peer", 100),  # 3.0
        _measure(2, "ours", 200),
        _measure(2, "peer", 80),  # 2.5
        _measure(3, "ours", 999),  # no peer in this round: ignored
    ]
    assert report.paired_ratio(measurements, "ours", "peer", "E1") == 2.5
    assert report.paired_ratio(measurements, "ours", "missing", "E1") is None
    summary = report.summarize(measurements)[("peer", "E1")]
    assert (summary.runs, summary.rps, summary.rps_min, summary.rps_max) == (3, 80, 50, 100)


def test_tables_show_ratio_and_goal() -> None:
    """The results table has the ratio column; the goals table says whether 2x was met."""
    measurements = [_measure(0, "ours", 1000, p99=20), _measure(0, "peer", 400, p99=50)]
    summaries = report.summarize(measurements)
    table = report.results_table(
        summaries,
        measurements,
        [("E1", "albums")],
        [("ours", "chinook_svc", 1), ("peer", "a peer", 2)],
        "ours",
        {},
    )
    assert "| E1 albums | chinook_svc | 1 | 1,000 |" in table
    assert table.splitlines()[-1].endswith("| 2.50x |")
    goals = report.goals_table(summaries, measurements, ["E1"], [("peer", "a peer")], "ours", None)
    assert goals.splitlines()[-1].endswith("| yes |")
    assert report.fmt_ms(0.456) == "0.46" and report.fmt_ms(123.4) == "123"


def test_answer_ids_of_each_style() -> None:
    """Row ids and totals come out of restless, JSON:API and datasette answers alike."""
    e1 = ENDPOINTS["E1"]
    restless = {"num_results": 347, "objects": [{"album_id": 1}, {"album_id": 2}]}
    jsonapi = {"data": [{"id": "1"}, {"id": "2"}], "meta": {"total": 347}}
    datasette = {"rows": [{"AlbumId": 1}, {"AlbumId": 2}], "filtered_table_rows_count": 347}
    expected = Answer((1, 2), 347)
    for style, body in (("restless", restless), ("jsonapi", jsonapi), ("datasette", datasette)):
        assert answer_ids(style, e1, body) == expected
    assert answer_ids("restless", ENDPOINTS["E2"], {"album_id": 1}) == Answer((1,), None)


def test_compare_answers_names_the_difference() -> None:
    """Same rows pass; another count, order or set of rows is a one-line mismatch."""
    assert compare_answers(Answer((1, 2), 5), Answer((1, 2), 5)) is None
    assert "num_results 6 != 5" in (compare_answers(Answer((1, 2), 5), Answer((1, 2), 6)) or "")
    assert "other order" in (compare_answers(Answer((1, 2), 5), Answer((2, 1), 5)) or "")
    assert "missing [2], extra [3]" in (compare_answers(Answer((1, 2), 5), Answer((1, 3), 5)) or "")


def test_urls_and_payload_comparison() -> None:
    """E3 in both schemes; a JSON:API page rebuilt as restless objects compares equal."""
    assert restless_path(ENDPOINTS["E2"]) == "/api/albums/1"
    assert restless_path(ENDPOINTS["E4"]) == "/api/albums?page=30"
    assert "q=%7B%22filters%22" in restless_path(ENDPOINTS["E3"])
    ng = jsonapi_path(ENDPOINTS["E3"])
    assert "sort=name" in ng and "page%5Bnumber%5D=3" in ng and "include=album" in ng
    document = {
        "data": [
            {
                "id": "1",
                "attributes": {"album_id": 1, "artist_id": 1},
                "relationships": {"artist": {"data": {"type": "artists", "id": "1"}}},
            }
        ],
        "included": [{"type": "artists", "id": "1", "attributes": {"artist_id": 1, "name": "A"}}],
    }
    ours = [{"album_id": 1, "artist": {"artist_id": 1, "name": "A"}, "artist_id": 1}]
    assert payload_difference(ours, jsonapi_to_restless(document)["objects"]) is None
    assert payload_difference({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 2}, {"x": 1}]}) == (
        "same data, to-many lists in another order"
    )
    assert "keys missing ['b']" in (payload_difference({"a": 1, "b": 2}, {"a": 1}) or "")


def test_cache_option_detection() -> None:
    """A cache flag is used as is; an option needing a value only when given explicitly."""
    assert parse_cache_option("  --cache   Cache responses\n") == ("--cache",)
    assert parse_cache_option("  --cache-seconds=  TTL\n") is None
    assert parse_cache_option("  --cache-seconds=  TTL\n", "--cache-seconds=5") == (
        "--cache-seconds=5",
    )
    assert parse_cache_option("  --listen=  endpoint\n") is None
