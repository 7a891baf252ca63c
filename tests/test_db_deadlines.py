"""A stalled database (a partition, not a refused port): 503 within the deadline, then recovery.

``twistd -n chinook`` serves a copy of the sample in PostgreSQL or MariaDB
through the project's TCP proxy (``tests/tcp_proxy.py``).  The proxy then
stalls: the open connections stay open but nothing goes through them, and
new connections are accepted and never answered.  The server cannot enforce
its statement timeout (it never sees the statements), the client's kernel
sees a live peer: only the service's own deadline can answer.  Each request
must get a 503 JSON with ``Retry-After`` within the statement timeout plus
2 s, again and again (no thread may stay stuck), ``/healthz`` must say the
database is unavailable, and once the proxy forwards again requests must
succeed without a restart.

In process, :class:`HeldConnections` is checked directly: a thread blocked in
a long query is released at once when its connection is aborted, and that
connection is discarded rather than returned to the pool.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from chinook_svc.restless import create_database_engine
from chinook_svc.restless._dberrors import is_unavailable
from chinook_svc.restless._held import held_connections

from . import backends
from .tcp_proxy import TcpProxy
from .test_twistd import Twistd, clean_env, free_port

pytestmark = pytest.mark.slow

STATEMENT_TIMEOUT = 1.0
#: The issue's bound: the first 503 within the statement timeout plus 2 s.
BOUND = STATEMENT_TIMEOUT + 2.0


def get(url: str, timeout: float = 15.0) -> tuple[int, dict[str, str], Any, float]:
    """GET: (status, headers, JSON body, seconds taken)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, dict(e.headers), e.read()
    return status, headers, json.loads(body), time.monotonic() - started


@pytest.fixture(params=backends.SERVER_PARAMS)
def sample_via_proxy(request: pytest.FixtureRequest) -> Iterator[tuple[TcpProxy, str]]:
    """The sample in a scratch schema of a server, and a URL reaching it through a proxy."""
    with backends.sample_through_proxy(backends.server_url(request, request.param)) as found:
        yield found


def test_stalled_database_answers_503_within_the_deadline_and_recovers(
    sample_via_proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """Stalled: 503 JSON within statement timeout + 2 s, every time; restored: 200 again."""
    proxy, url = sample_via_proxy
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", url,
            "--statement-timeout", str(STATEMENT_TIMEOUT), "--threads", "2"]  # fmt: skip
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        assert get(server.url("/api/albums/1"))[0] == 200  # a pooled connection through the proxy
        proxy.stall()
        for path in ("/api/albums/1", "/api/albums/2", "/api/albums", "/api/artists/3"):
            status, headers, body, seconds = get(server.url(path))
            assert (status, body) == (503, {"message": "Database unavailable"}), path
            assert headers["Retry-After"] == "1"
            assert seconds <= BOUND, (path, seconds)
        status, _, body, seconds = get(server.url("/healthz"))
        assert (status, body["database"]) == (503, "unavailable")
        proxy.restore()
        deadline = time.monotonic() + 10
        while get(server.url("/api/albums/1"))[0] != 200:
            assert time.monotonic() < deadline, "no recovery within 10 s"
            time.sleep(0.2)
        assert [get(server.url(f"/api/albums/{i}"))[0] for i in (1, 2, 3)] == [200, 200, 200]
        assert get(server.url("/healthz"))[0] == 200
        server.terminate()
    finally:
        server.kill()
    assert server.process.returncode in (0, -signal.SIGTERM), server.log_text()
    log = server.log_text()
    assert "Traceback" not in log
    assert "deadline" in log  # the 503s were logged (rate-limited)


def test_an_aborted_connection_frees_its_thread_and_leaves_the_pool(
    sample_via_proxy: tuple[TcpProxy, str],
) -> None:
    """A thread stuck on a stalled connection returns when it is aborted; the connection is gone."""
    proxy, url = sample_via_proxy
    engine = create_database_engine(url, threads=1, statement_timeout=0)
    held = held_connections(engine)
    outcome: list[BaseException | str] = []
    thread_id: list[int] = []
    used: list[Any] = []

    def stuck() -> None:
        thread_id.append(threading.get_ident())
        try:
            with engine.connect() as conn:
                used.append(conn.connection.dbapi_connection)
                conn.execute(text("SELECT 1")).scalar_one()
                proxy.stall()
                conn.execute(text("SELECT 2")).scalar_one()
            outcome.append("returned")
        except sa_exc.DBAPIError as e:
            outcome.append(e)

    try:
        worker = threading.Thread(target=stuck, daemon=True)
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and outcome == []  # stuck: nothing comes back
        assert held.abort(thread_id[0]) == 1
        worker.join(5)
        assert not worker.is_alive()
        [error] = outcome
        assert isinstance(error, sa_exc.DBAPIError) and is_unavailable(error)
        assert held.held_by(thread_id[0]) == 0
        proxy.restore()
        with engine.connect() as conn:  # a new connection: the broken one was discarded
            assert conn.connection.dbapi_connection is not used[0]
            assert conn.execute(text("SELECT 3")).scalar_one() == 3
    finally:
        proxy.restore()
        engine.dispose()
