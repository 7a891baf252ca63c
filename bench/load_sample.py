"""Time loading the bundled Chinook sample into SQLite, PostgreSQL and MariaDB.

Usage::

    python bench/load_sample.py [--repeat 5] [--postgres URL] [--mysql URL]

Prints the time to decode the bundled data, then for each database the
fastest and median time of ``load_sample`` into a fresh target (a new SQLite
file; a new PostgreSQL schema / MariaDB database, dropped afterwards), plus
the time of a second, no-op call.  Servers that cannot be reached are
reported and skipped.  Defaults come from ``CHINOOK_TEST_POSTGRES`` and
``CHINOOK_TEST_MYSQL`` as in the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from chinook_svc.models import TABLES
from chinook_svc.sample import load_sample
from chinook_svc.sample._data import typed_rows

POSTGRES = os.environ.get(
    "CHINOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL = os.environ.get("CHINOOK_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _report(label: str, times: list[float], noop: float) -> None:
    print(
        f"{label:<11} load: min {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"over {len(times)} runs; second call (already loaded) {noop:.3f} s"
    )


def _decode() -> None:
    started = time.perf_counter()
    rows = sum(len(typed_rows(table)[1]) for table in TABLES)
    print(f"decode bundled data ({rows} rows): {time.perf_counter() - started:.3f} s (once)")


def bench_sqlite(repeat: int) -> None:
    """Load into fresh SQLite files."""
    times, noop = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeat):
            engine = create_engine(f"sqlite:///{Path(tmp) / f'{run}.db'}")
            times.append(load_sample(engine).seconds)
            noop = load_sample(engine).seconds
            engine.dispose()
    _report("sqlite", times, noop)


def bench_server(label: str, url: str, repeat: int, drop: Callable[[str], str]) -> None:
    """Load into fresh schemas of a server, dropping each afterwards."""
    engine: Engine = create_engine(url)
    times, noop = [], 0.0
    try:
        for _ in range(repeat):
            schema = f"chinook_bench_{uuid.uuid4().hex[:12]}"
            try:
                times.append(load_sample(engine, schema=schema).seconds)
                noop = load_sample(engine, schema=schema).seconds
            finally:
                with engine.begin() as conn:
                    conn.exec_driver_sql(drop(schema))
    except OperationalError as exc:
        print(f"{label:<11} skipped: {str(exc.orig).splitlines()[0]}")
        return
    finally:
        engine.dispose()
    _report(label, times, noop)


def main() -> None:
    """Run the benchmarks given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--mysql", default=MYSQL)
    args = parser.parse_args()
    _decode()
    bench_sqlite(args.repeat)
    bench_server("postgresql", args.postgres, args.repeat, lambda s: f'DROP SCHEMA "{s}" CASCADE')
    bench_server("mariadb", args.mysql, args.repeat, lambda s: f"DROP DATABASE `{s}`")


if __name__ == "__main__":
    main()
