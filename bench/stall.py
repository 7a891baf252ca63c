"""A stalled database: how soon the service answers 503, and how soon it recovers.

Usage::

    .venv/bin/python bench/stall.py                        # PostgreSQL and MariaDB
    .venv/bin/python bench/stall.py --statement-timeout 5 --databases postgresql

For each database it loads the bundled sample into a scratch schema, serves
it with ``twistd -n chinook --statement-timeout S --threads 2`` through the
test suite's TCP proxy (``tests/tcp_proxy.py``), then stalls the proxy (a
partition: open connections stay open and silent, new ones are accepted and
never answered) and prints how long each of a few requests took to get its
503, how long ``/healthz`` took to say "unavailable", and, after the proxy
forwards again, how long until a request succeeds.  The issue's bound for
the first 503 is the statement timeout plus 2 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from chinook_svc.sample import load_sample  # noqa: E402
from tests.tcp_proxy import TcpProxy  # noqa: E402

BIN = Path(sys.executable).parent
URLS = {
    "postgresql": os.environ.get(
        "CHINOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get("CHINOOK_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def get(url: str) -> tuple[int, float]:
    """GET: (status, seconds)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0
    return status, time.monotonic() - started


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(name: str, statement_timeout: float) -> None:
    """Measure one database."""
    url = make_url(URLS[name])
    schema = f"chinook_stall_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    keyword = "SCHEMA" if name == "postgresql" else "DATABASE"
    try:
        load_sample(admin, schema=schema)
        with TcpProxy(url.host or "127.0.0.1", url.port or 0) as proxy, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            via = url.set(host="127.0.0.1", port=proxy.port)
            if name == "postgresql":
                via = via.update_query_dict({"options": f"-csearch_path={schema}"})
            else:
                via = via.set(database=schema)
            port = free_port()
            service = subprocess.Popen(
                [str(BIN / "twistd"), "-n", "--pidfile=", f"--logfile={tmp}/twistd.log",
                 "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1",
                 "--db", via.render_as_string(hide_password=False),
                 "--statement-timeout", str(statement_timeout), "--threads", "2"],
                cwd=tmp,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 60
                while get(f"{base}/healthz")[0] != 200:
                    if time.monotonic() > deadline or service.poll() is not None:
                        sys.exit(f"{name}: the service did not start")
                    time.sleep(0.2)
                get(f"{base}/api/albums/1")
                proxy.stall()
                answers = [get(f"{base}/api/albums/{i}") for i in range(1, 6)]
                health = get(f"{base}/healthz")
                proxy.restore()
                restored = time.monotonic()
                while get(f"{base}/api/albums/1")[0] != 200:
                    time.sleep(0.1)
                recovery = time.monotonic() - restored
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(timeout=60)
        times = " ".join(f"{status}:{seconds:.2f}s" for status, seconds in answers)
        print(f"{name:10} statement timeout {statement_timeout:g} s (bound "
              f"{statement_timeout + 2:g} s): requests {times}; /healthz {health[0]} in "
              f"{health[1]:.2f}s; recovered {recovery:.2f}s after the stall ended",
              flush=True)  # fmt: skip
    finally:
        with admin.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_schema(schema)
            cascade = " CASCADE" if name == "postgresql" else ""
            conn.exec_driver_sql(f"DROP {keyword} IF EXISTS {quoted}{cascade}")
        admin.dispose()


def main() -> int:
    """Measure every database asked for."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statement-timeout", type=float, default=1.0)
    parser.add_argument(
        "--databases", nargs="+", choices=sorted(URLS), default=["postgresql", "mysql"]
    )
    args = parser.parse_args()
    for name in args.databases:
        run(name, args.statement_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
