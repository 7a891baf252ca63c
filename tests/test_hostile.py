"""Hostile input at a real listening service, on SQLite, PostgreSQL and MariaDB (issue 10).

A real ``twistd -n chinook --allow-writes`` (its token from the environment)
on a loopback port serves a throw-away copy of the sample in each database.
A seeded generator (``hostile_requests``) sends it raw requests over real
sockets, one connection each: odd paths and ids, ``q`` in and out of the
grammar, real, mutated and forged cursors, all sorts of headers, write bodies
with every column's edge values and every shape of relation value.  For
every answer:

* no 5xx, but a 503 to a read, with ``Retry-After`` and a JSON body (the
  statement timeout stopping an expensive search), is counted, not failed;
* every error body is a JSON object with a ``message``; no connection is
  dropped without an answer;
* a rejected write leaves the database checksum (a digest of every table,
  ``backends.checksum``) as it was; reads never change it.

Afterwards the service is healthy (``/healthz`` and a collection answer 200),
stops cleanly on SIGTERM, and logged no traceback.

Longer runs: ``CHINOOK_HOSTILE_REQUESTS`` (requests per database, default
150) and ``CHINOOK_HOSTILE_SEED`` (default 10); the summary (requests, status
histogram, 5xx) is printed (``pytest -s``) and, with
``CHINOOK_HOSTILE_REPORT=FILE``, appended to FILE as a JSON line.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import random
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attrs import define, field
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from . import backends
from .hostile_requests import SAFE_METHODS, HostileRequests, Request
from .test_twistd import Twistd, clean_env, free_port, get_json

pytestmark = pytest.mark.slow

TOKEN = "hostile-token-0123456789abcdef"
REQUESTS = int(os.environ.get("CHINOOK_HOSTILE_REQUESTS", "150"))
SEED = int(os.environ.get("CHINOOK_HOSTILE_SEED", "10"))
#: How often (in requests) reads are checked not to have changed the database.
READ_CHECK_EVERY = 25
#: Problems listed in a failure (the run goes on to count them all).
SHOWN = 15


class Digest:
    """The database's checksum, recomputed only when something may have been committed.

    On SQLite, ``PRAGMA data_version`` (asked on a connection of its own)
    changes whenever another connection commits: while it stays the same, the
    last checksum still holds.  The servers compute theirs cheaply
    (``backends.checksum``), every time.
    """

    def __init__(self, engine: Engine, sqlite_file: Path | None) -> None:
        self.engine = engine
        self._version = sqlite3.connect(sqlite_file, isolation_level=None) if sqlite_file else None
        self._last: tuple[Any, str] | None = None

    def __call__(self) -> str:
        """The checksum of every table now."""
        if self._version is None:
            return backends.checksum(self.engine)
        version = self._version.execute("PRAGMA data_version").fetchone()[0]
        if self._last is None or self._last[0] != version:
            self._last = (version, backends.checksum(self.engine))
        return self._last[1]

    def close(self) -> None:
        """Close the connections."""
        if self._version is not None:
            self._version.close()
        self.engine.dispose()


@define
class Service:
    """A running service on a throw-away database, and the digest of that database."""

    server: Twistd
    digest: Digest


@pytest.fixture(params=[*backends.PARAMS, pytest.param("reflected", id="sqlite-reflected")])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """``twistd chinook --allow-writes`` on a fresh copy of the sample in one database.

    ``reflected``: ``twistd restless --naming snake --allow-writes`` on SQLite,
    the same file served by reflection (docs/reflection.md).
    """
    name = request.param
    cleanups: list[Any] = []
    url, db = backends.served_copy(
        request, "sqlite" if name == "reflected" else name, tmp_path, cleanups
    )
    digest = Digest(create_engine(url), db)
    cleanups.append(digest.close)
    port = free_port()
    command = ["restless", "--naming", "snake"] if name == "reflected" else ["chinook"]
    args = [*command, "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", url, "--allow-writes"]
    # Requests that never finish their head or body (bare LF lines, a Content-Length
    # past the body) are answered 408 at these deadlines: short, so runs stay quick.
    args += ["--head-timeout", "2", "--body-timeout", "2"]
    server = Twistd(args, port, tmp_path, clean_env(CHINOOK_API_TOKEN=TOKEN))
    try:
        server.wait_until_up()
        yield Service(server, digest)
    finally:
        server.kill()
        for cleanup in reversed(cleanups):
            cleanup()


def exchange(port: int, request: Request) -> tuple[int, dict[str, str], bytes] | None:
    """Send one request on a new connection: (status, headers, body), or None if dropped."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # answered and closed early (a 413): read what came
            sock.sendall(request.wire(f"127.0.0.1:{port}"))
        response = http.client.HTTPResponse(sock, method=request.method.upper())
        try:
            response.begin()
            body = response.read()
        except (http.client.HTTPException, OSError):
            return None
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, body


def decoded(headers: dict[str, str], body: bytes) -> Any:
    """The JSON a body holds (gunzipped if need be); ``ValueError`` if it is not JSON."""
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


@define
class Run:
    """The tally of one run: statuses, 503s let through, problems found."""

    statuses: Counter[str] = field(factory=Counter)
    problems: list[str] = field(factory=list)
    justified_503: int = 0
    notes: list[str] = field(factory=list)

    def problem(self, index: int, request: Request, what: str) -> None:
        self.problems.append(f"#{index} {what}: {request.describe()}")


def check_answer(run: Run, index: int, request: Request, answer: Any) -> Any:
    """Record the answer; note what is wrong with it; return its JSON body (or None)."""
    if answer is None:
        run.statuses["dropped"] += 1
        run.problem(index, request, "connection dropped without an answer")
        return None
    status, headers, body = answer
    run.statuses[str(status)] += 1
    if status == 408:
        run.notes.append(f"#{index} 408: {request.describe()}")
    payload = None
    has_body = request.method.upper() != "HEAD" and status not in (204, 304)
    if has_body and headers.get("content-type", "").startswith("application/json"):
        try:
            payload = decoded(headers, body)
        except ValueError:
            run.problem(index, request, f"{status} with a body that is not JSON: {body[:200]!r}")
    message = isinstance(payload, dict) and isinstance(payload.get("message"), str)
    if status >= 400 and has_body and not message:
        run.problem(index, request, f"{status} error without a JSON message: {body[:200]!r}")
    if status >= 500:
        read = request.method.upper() in SAFE_METHODS
        if status == 503 and read and "retry-after" in headers and isinstance(payload, dict):
            run.justified_503 += 1
            run.notes.append(f"#{index} 503: {request.describe()}")
        else:
            run.problem(index, request, f"{status}: {body[:200]!r}")
    return payload


def test_hostile_requests_do_no_harm(service: Service, request: pytest.FixtureRequest) -> None:
    """Random hostile requests: no 5xx, JSON errors, rejected writes change nothing, still up."""
    database = request.node.callspec.params["service"]
    port = service.server.port
    rng = random.Random(f"{SEED}-{database}")
    generator = HostileRequests(rng, TOKEN)
    run = Run()
    current = service.digest()
    started = time.monotonic()
    for index in range(REQUESTS):
        hostile = generator.next()
        answer = exchange(port, hostile)
        payload = check_answer(run, index, hostile, answer)
        if answer is not None:
            generator.learn(hostile, answer[0], answer[1], payload)
        if hostile.writes:
            after = service.digest()
            if answer is not None and 200 <= answer[0] < 300:
                current = after
            elif after != current:
                status = answer and answer[0]
                run.problem(index, hostile, f"rejected ({status}) but changed the data")
                current = after
        elif index % READ_CHECK_EVERY == 0 and service.digest() != current:
            run.problems.append(f"a read before #{index} changed the database")
            current = service.digest()
    elapsed = time.monotonic() - started
    summary = {
        "database": database,
        "seed": SEED,
        "requests": REQUESTS,
        "seconds": round(elapsed, 1),
        "statuses": dict(sorted(run.statuses.items())),
        "5xx": sum(n for s, n in run.statuses.items() if s.startswith("5")),
        "justified_503": run.justified_503,
        "problems": len(run.problems),
    }
    print(f"\nhostile run: {json.dumps(summary)}", *run.notes[:SHOWN], sep="\n")
    if "CHINOOK_HOSTILE_REPORT" in os.environ:
        with open(os.environ["CHINOOK_HOSTILE_REPORT"], "a", encoding="utf-8") as report:
            report.write(json.dumps({**summary, "examples": run.problems[:SHOWN]}) + "\n")
    assert get_json(service.server.url("/healthz"))[0] == 200
    status, body = get_json(service.server.url("/api/genres"))
    assert status == 200 and body["num_results"] > 0
    assert service.digest() == current
    assert not run.problems, "\n".join(run.problems[:SHOWN])
    service.server.terminate()
    log = service.server.log_text()
    assert "Traceback" not in log, log[-3000:]
