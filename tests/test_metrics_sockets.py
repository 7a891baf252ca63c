"""``/metrics`` on real sockets: one process, the admin endpoint, and two workers seen as one.

``twistd chinook`` runs as a subprocess on loopback ports, as in production.
With ``--workers 2``, 1,000 requests spread over both workers (a new
connection each, so the kernel hands them to either), then one scrape: its
request counter sums to 1,000 whichever process answers it.  The workers'
shared directory is gone once the service has stopped.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from .metrics_support import Samples, label_values, parse, total
from .service_support import copy_reference
from .test_twistd import Twistd, clean_env, free_port
from .test_workers import wait_for, worker_pids

pytestmark = pytest.mark.slow

REQUESTS = 1000
API = "/api/{collection}/{id}"


def fetch(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body as text)."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def scrape(url: str) -> Samples:
    """The samples of a scrape of ``url``, which must answer 200."""
    status, body = fetch(url)
    assert status == 200, body
    return parse(body)


def serve(chinook_file: Path, tmp_path: Path, *extra: str) -> Twistd:
    """``twistd chinook`` on a copy of the sample, with ``extra`` options, up."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}"]
    server = Twistd([*args, *extra], port, tmp_path, clean_env(TMPDIR=str(tmp_path)))
    server.wait_until_up()
    return server


def test_single_process(chinook_file: Path, tmp_path: Path) -> None:
    """One process: /metrics on the API's port counts the requests made before the scrape."""
    server = serve(chinook_file, tmp_path)
    try:
        for n in range(1, 21):
            assert fetch(server.url(f"/api/albums/{n}"))[0] == 200
        assert fetch(server.url("/nowhere"))[0] == 404
        samples = scrape(server.url("/metrics"))
        assert total(samples, "chinook_http_requests_total", route=API, status="200") == 20
        assert total(samples, "chinook_http_requests_total", route="other", status="404") == 1
        assert total(samples, "chinook_http_requests_in_flight") == 1  # the scrape itself
        assert total(samples, "chinook_db_threads_busy") == 0
        assert total(samples, "chinook_db_statement_duration_seconds_count") >= 20
        assert total(samples, "process_open_fds") > 0
        assert "pid" not in {k for _, ls in samples for k, _ in ls}
        again = scrape(server.url("/metrics"))
        assert total(again, "chinook_http_requests_total", route="/metrics") == 1
    finally:
        assert server.terminate() < 15
        server.kill()


def test_admin_endpoint_and_switch(chinook_file: Path, tmp_path: Path) -> None:
    """--metrics-listen: /metrics there (and only there); --metrics off: no /metrics at all."""
    admin = free_port()
    server = serve(chinook_file, tmp_path, "--metrics-listen", f"tcp:{admin}:interface=127.0.0.1")
    try:
        assert fetch(server.url("/api/albums/1"))[0] == 200
        assert fetch(server.url("/metrics"))[0] == 404
        samples = scrape(f"http://127.0.0.1:{admin}/metrics")
        assert total(samples, "chinook_http_requests_total", route=API) == 1
        status, body = fetch(f"http://127.0.0.1:{admin}/api/albums")
        assert (status, body) == (404, '{"message":"Not found"}')
    finally:
        server.terminate()
        server.kill()
    (tmp_path / "off").mkdir()
    server = serve(chinook_file, tmp_path / "off", "--metrics", "off")
    try:
        assert fetch(server.url("/metrics"))[0] == 404
    finally:
        server.terminate()
        server.kill()


def shared_directory(server: Twistd) -> Path:
    """The workers' metrics directory, as the parent logged it."""
    found = re.search(r"Workers' metrics in (\S+)", server.log_text())
    assert found, server.log_text()
    return Path(found.group(1))


def answered_by(directory: Path, pid: int) -> float:
    """The API requests worker ``pid`` counted, read from its own file only."""
    files = [str(directory / f"counter_{pid}.db")]
    families = MultiProcessCollector.merge(files, accumulate=False)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "chinook_http_requests_total" and sample.labels["route"] == API
    )


def load(server: Twistd, count: int) -> None:
    """``count`` GETs of albums, 8 at a time, each on a new connection; all must be 200."""
    urls = [server.url(f"/api/albums/{1 + n % 300}") for n in range(count)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda u: fetch(u)[0], urls))
    assert statuses == [200] * count


@pytest.mark.parametrize("admin", [False, True], ids=["api-port", "metrics-listen"])
def test_two_workers_are_one_service(chinook_file: Path, tmp_path: Path, admin: bool) -> None:
    """1,000 requests over 2 workers, one scrape: the counter sums to 1,000; dir gone after."""
    port = free_port()
    extra = ["--metrics-listen", f"tcp:{port}:interface=127.0.0.1"] if admin else []
    server = serve(chinook_file, tmp_path, "--workers", "2", *extra)
    try:
        pids = worker_pids(server, 2)
        assert len(pids) == 2
        directory = shared_directory(server)
        assert directory.is_dir()
        load(server, REQUESTS)
        metrics_url = f"http://127.0.0.1:{port}/metrics" if admin else server.url("/metrics")
        samples = scrape(metrics_url)
        # /healthz (the pid polls) and /metrics are counted under their own routes.
        assert total(samples, "chinook_http_requests_total", route=API) == REQUESTS
        assert total(samples, "chinook_http_request_duration_seconds_count", route=API) == REQUESTS
        assert label_values(samples, "process_open_fds", "pid") == {str(p) for p in pids}
        assert total(samples, "chinook_db_threads") > 0
        assert total(samples, "process_cpu_seconds_total") > 0
        if admin:
            assert fetch(server.url("/metrics"))[0] == 404
        assert total(samples, "chinook_db_statement_duration_seconds_count") >= REQUESTS
        # Both workers answered some of them: the sum above is of two processes' counts.
        shares = [answered_by(directory, pid) for pid in sorted(pids)]
        assert sum(shares) == REQUESTS and min(shares) > 0, shares
        assert server.terminate() < 20
        assert not directory.exists()
    finally:
        server.kill()


def test_a_dead_workers_gauges_go(chinook_file: Path, tmp_path: Path) -> None:
    """A worker killed and replaced: its gauges leave the scrape; its counts stay."""
    import os
    import signal

    server = serve(chinook_file, tmp_path, "--workers", "2")
    try:
        pids = worker_pids(server, 2)
        load(server, 40)
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            seen = label_values(scrape(server.url("/metrics")), "process_open_fds", "pid")
            return str(victim) not in seen and len(seen) == 2

        assert wait_for(replaced, 30), server.log_text()
        samples = scrape(server.url("/metrics"))
        assert total(samples, "chinook_http_requests_total", route=API) == 40
        server.terminate()
        assert not shared_directory(server).exists()
    finally:
        server.kill()
