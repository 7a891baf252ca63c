"""The correctness gate: each target answers each endpoint with chinook_svc's rows before timing.

Also counts SQL statements per request, from the log that
``peers/sqltrace/sitecustomize.py`` writes while the check runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .endpoints import ENDPOINTS, Answer, answer_ids, compare_answers, jsonapi_to_restless
from .endpoints import payload_difference as difference
from .servers import Server, http_get
from .targets import Setup, Target

#: Requests averaged when counting statements, after concurrent warm-up requests that
#: make every worker open its connections (first connections run set-up statements).
STATEMENT_SAMPLES = 4
STATEMENT_WARMUP = 16


@dataclass
class Check:
    """One target on one endpoint: the path to time, and whether it may be timed."""

    target: str
    endpoint: str
    path: str
    answer: Answer | None = None
    body: Any = None
    problem: str | None = None  # set: the cell is not timed
    payload: str | None = None  # how the payload differs from chinook_svc's (informational)
    statements: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (without the body)."""
        return {
            "target": self.target,
            "endpoint": self.endpoint,
            "path": self.path,
            "ids": list(self.answer.ids) if self.answer else None,
            "num_results": self.answer.total if self.answer else None,
            "problem": self.problem,
            "payload": self.payload,
            "statements": self.statements,
        }


def count_statements(log: Path, database: str) -> int:
    """Lines of the SQL log that ran against ``database`` (a file name)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.split("\t", 2)[1:2] == [database])


def fetch_json(server: Server, path: str, target: Target) -> tuple[int, Any]:
    """GET ``path`` with the target's headers; status and decoded JSON (``None`` if not JSON)."""
    headers = dict(h.split(": ", 1) for h in target.headers)
    status, raw = http_get(server.base_url + path, headers)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def follow_pages(server: Server, target: Target, path: str, page: int) -> str:
    """For datasette: follow ``next_url`` from page 1 to ``page``; the path of that page."""
    for _ in range(page - 1):
        status, body = fetch_json(server, path, target)
        next_url = body.get("next_url") if status == 200 and isinstance(body, dict) else None
        if not next_url:
            raise LookupError(f"no next_url on {path} (status {status})")
        parts = urlsplit(next_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path


def check_target(
    target: Target,
    server: Server,
    setup: Setup,
    keys: Iterable[str],
    reference: dict[str, Check] | None,
    sql_log: Path | None,
) -> dict[str, Check]:
    """Fetch every endpoint once from a running ``target``; compare with ``reference``."""
    results: dict[str, Check] = {}
    for key in keys:
        if key not in target.endpoints:
            continue
        endpoint = ENDPOINTS[key]
        path, page = target.path(key, setup)
        check = results[key] = Check(target.name, key, path)
        try:
            check.path = path = follow_pages(server, target, path, page)
        except LookupError as e:
            check.problem = str(e)
            continue
        status, body = fetch_json(server, path, target)
        check.body = body
        if status != 200 or body is None:
            check.problem = f"HTTP {status}" + ("" if body is not None else ", not JSON")
            continue
        if target.style == "ceiling":
            continue
        try:
            check.answer = answer_ids(target.style, endpoint, body)
        except (KeyError, TypeError, ValueError) as e:
            check.problem = f"unexpected answer shape ({e!r})"
            continue
        expected = reference.get(key) if reference else None
        if expected is not None and expected.answer is not None:
            check.problem = compare_answers(expected.answer, check.answer)
            check.payload = payload_note(target, expected.body, body)
        if sql_log is not None:
            check.statements = statements_per_request(server, target, path, sql_log, setup)
    return results


def payload_note(target: Target, expected: Any, body: Any) -> str | None:
    """How ``body`` differs from chinook_svc's answer ``expected`` (``None``: identical data)."""
    if target.style == "restless":
        return difference(expected, body)
    if target.style == "jsonapi":
        rebuilt = jsonapi_to_restless(body)
        if isinstance(rebuilt, dict) and "objects" in rebuilt:
            return difference(expected.get("objects"), rebuilt["objects"])
        return difference(expected, rebuilt)
    if target.style == "datasette":
        return (
            "datasette's own shape (rows; foreign keys as {value, label}, not expanded on "
            "the row page E2): ids compared only"
        )
    return None


def statements_per_request(
    server: Server, target: Target, path: str, sql_log: Path, setup: Setup
) -> float:
    """Mean statements per request of ``path``, after warm-up requests (8 at a time)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: fetch_json(server, path, target), range(STATEMENT_WARMUP)))
    before = count_statements(sql_log, setup.db_path.name)
    for _ in range(STATEMENT_SAMPLES):
        fetch_json(server, path, target)
    after = count_statements(sql_log, setup.db_path.name)
    return (after - before) / STATEMENT_SAMPLES
