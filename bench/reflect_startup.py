"""Start-up of ``twistd restless`` on a schema of many tables: reflection and the app built on it.

Usage::

    .venv/bin/python bench/reflect_startup.py [--tables 200] [--runs 5] [--postgres URL]

Makes a SQLite file (and, with ``--postgres``, a throw-away schema in that
database, dropped afterwards) with ``--tables`` tables: each has a key, four
columns and a foreign key to the table before it; every fifth has a second
one; every tenth is a pure association table between the two tables before
it.  Then, ``--runs`` times, it times (wall clock and this process's CPU):

* reflection: ``chinook_svc.reflection.reflect_now`` (read the catalogue,
  plan, map);
* the app: ``ChinookApp`` on those models (one ``create_api`` per
  collection and the OpenAPI document), as ``twistd restless`` builds it.

Prints the medians, one line per database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine, text
from sqlalchemy.engine import Engine
from twisted.internet.testing import Clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chinook_svc.database import open_engine
from chinook_svc.reflection import Choice, reflect_now
from chinook_svc.restless import InlineRunner
from chinook_svc.web.app import ChinookApp


def schema(count: int, name: str | None) -> MetaData:
    """``count`` tables chained by foreign keys, some association tables among them."""
    metadata = MetaData(schema=name)
    for i in range(count):
        columns = [
            Column("id", Integer, primary_key=True),
            Column("label", String(40)),
            Column("amount", Integer),
            Column("note", String(80)),
            Column("code", String(10)),
        ]
        if i and i % 10 == 0:
            Table(
                f"t{i:03d}_link", metadata,
                Column("left_id", Integer, ForeignKey(f"t{i - 1:03d}.id"), primary_key=True),
                Column("right_id", Integer, ForeignKey(f"t{i - 2:03d}.id"), primary_key=True),
            )  # fmt: skip
            continue
        if i:
            previous = i - 2 if i - 1 >= 10 and (i - 1) % 10 == 0 else i - 1
            columns.append(Column("parent_id", Integer, ForeignKey(f"t{previous:03d}.id")))
        if i > 2 and i % 5 == 0:
            columns.append(Column("other_id", Integer, ForeignKey(f"t{i - 3:03d}.id")))
        Table(f"t{i:03d}", metadata, *columns)
    return metadata


def measure(engine: Engine, name: str | None, runs: int) -> tuple[float, float, float, float, int]:
    """Medians of (reflect wall, reflect CPU, app wall, app CPU), and the collections served."""
    timings: list[tuple[float, float, float, float]] = []
    served = 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        models = reflect_now(engine, Choice(schema=name))
        reflected = (time.perf_counter() - wall, time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        ChinookApp(engine, InlineRunner(), Clock(), models=models)
        built = (time.perf_counter() - wall, time.process_time() - cpu)
        timings.append((*reflected, *built))
        served = len(models.classes)
    medians = [statistics.median(t[i] for t in timings) for i in range(4)]
    return medians[0], medians[1], medians[2], medians[3], served


def report(label: str, figures: tuple[float, float, float, float, int]) -> None:
    """One line of results."""
    rw, rc, aw, ac, served = figures
    print(
        f"{label}: {served} collections; reflection {rw:.2f} s wall / {rc:.2f} s CPU; "
        f"app {aw:.2f} s wall / {ac:.2f} s CPU; total {rw + aw:.2f} s"
    )


def main() -> int:
    """Build the schemas, time start-up, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="also on this PostgreSQL database (a scratch schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'many.db'}"
        maker = create_engine(url)
        schema(args.tables, None).create_all(maker)
        maker.dispose()
        engine = open_engine(url)
        report(f"SQLite, {args.tables} tables", measure(engine, None, args.runs))
        engine.dispose()
    if args.postgres:
        name = f"reflect_bench_{uuid.uuid4().hex[:10]}"
        maker = create_engine(args.postgres)
        with maker.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        try:
            schema(args.tables, name).create_all(maker)
            engine = open_engine(args.postgres)
            report(f"PostgreSQL, {args.tables} tables", measure(engine, name, args.runs))
            engine.dispose()
        finally:
            with maker.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            maker.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
