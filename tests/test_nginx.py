"""The horizontal picture for real: two service instances behind nginx, one PostgreSQL.

The shipped ``deploy/nginx-chinook.conf`` (with its ports changed to free
ones) fronts two ``twistd chinook`` instances that serve the same PostgreSQL
schema; requests through nginx reach both instances and answer the same data.
Needs nginx (``apt-get install nginx-light``; ``.ci/run`` installs it in CI)
and PostgreSQL.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from chinook_svc.sample import load_sample

from .conftest import missing, require_servers
from .test_twistd import Twistd, clean_env, free_port, get_json

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "nginx-chinook.conf"


def nginx_binary() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    missing("nginx is not installed (apt-get install nginx-light)", mandatory=require_servers())
    raise AssertionError("unreachable")


def nginx_config(directory: Path, listen: int, upstreams: list[int]) -> Path:
    """A main nginx.conf that includes the shipped example with test ports."""
    example = EXAMPLE.read_text()
    example = example.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    example = example.replace("127.0.0.1:8081", f"127.0.0.1:{upstreams[0]}")
    example = example.replace("127.0.0.1:8082", f"127.0.0.1:{upstreams[1]}")
    (directory / "chinook.conf").write_text(example)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    main = directory / "nginx.conf"
    main.write_text(
        f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/chinook.conf;
}}
"""
    )
    return main


@pytest.fixture
def postgres_schema(postgres_url: str):  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL schema holding the Chinook sample (dropped afterwards)."""
    schema = f"chinook_nginx_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_url)
    try:
        load_sample(engine, schema=schema)
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_two_instances_behind_nginx(
    postgres_url: str, postgres_schema: str, tmp_path: Path
) -> None:
    """Through nginx, both instances answer, with the same data from the one database."""
    nginx = nginx_binary()
    db = f"{postgres_url}?options=-csearch_path%3D{postgres_schema}"
    ports = [free_port(), free_port()]
    servers: list[Twistd] = []
    proxy = None
    try:
        for i, port in enumerate(ports):
            home = tmp_path / f"instance{i}"
            home.mkdir()
            args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", db]
            servers.append(Twistd(args, port, home, clean_env()))
        for server in servers:
            server.wait_until_up()
        listen = free_port()
        config = nginx_config(tmp_path, listen, ports)
        check = subprocess.run([nginx, "-t", "-c", str(config), "-p", str(tmp_path)],
                               capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert check.returncode == 0, check.stderr
        proxy = subprocess.Popen([nginx, "-c", str(config), "-p", str(tmp_path)])
        url = f"http://127.0.0.1:{listen}"
        deadline = time.monotonic() + 20
        pids: set[int] = set()
        while time.monotonic() < deadline and len(pids) < 2:
            try:
                status, body = get_json(f"{url}/healthz")
            except OSError:
                time.sleep(0.1)
                continue
            assert status == 200
            pids.add(body["pid"])
        assert pids == {s.process.pid for s in servers}
        status, body = get_json(f"{url}/api/Albums")
        assert status == 200 and body["num_results"] == 347
        assert body["objects"][0]["artist"]["name"] == "AC/DC"
        status, body = get_json(f"{url}/api/albums?page=2")
        assert [a["album_id"] for a in body["objects"]] == list(range(11, 21))
        with urllib.request.urlopen(f"{url}/api/albums", timeout=10) as response:
            link = response.headers["Link"]
        assert link.startswith(f"<{url}/api/albums?page=2&")  # built from the client's Host
        # /metrics is for Prometheus only, never served through nginx (the service
        # serves it, on by default: nginx answers it with the service's kind of 404).
        status, body = get_json(f"{url}/metrics")
        assert (status, body) == (404, {"message": "Not found"})
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGQUIT)
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
        for server in servers:
            server.kill()
