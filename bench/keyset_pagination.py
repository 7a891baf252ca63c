"""Offset pages against cursor pages on a generated 1,000,000-row table.

    .venv/bin/python bench/keyset_pagination.py [--rows 1000000] [--repeat 20]

Builds (once, under bench/.peers/data/) a SQLite table of ``--rows`` events,
serves it with the engine (``APIManager``, in-process, no HTTP, so that only
the database work is timed) and prints the median time of one page request
at increasing depths: by ``page=N`` (0.17's offset pagination, count
included) and by ``cursor`` (keyset pagination, no count).  A figure, not a
test: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from sqlalchemy import Column, Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase

from chinook_svc.restless import APIManager, ApiRequest, InlineRunner
from chinook_svc.restless._api import answer
from chinook_svc.restless._keyset import encode_cursor
from chinook_svc.restless._render import JSON_RENDERER as JSON

DATA = Path(__file__).resolve().parent / ".peers" / "data"
PER_PAGE = 10


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One generated event."""

    __tablename__ = "events"
    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    value = Column(Integer, nullable=False)


def build(path: Path, rows: int) -> None:
    """The table, filled with ``rows`` events (once)."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(Event.__table__)).scalar_one()
        if have == rows:
            return
        conn.execute(Event.__table__.delete())
        rng = random.Random(42)
        kinds = ["click", "view", "buy", "share"]
        batch = 50_000
        for start in range(0, rows, batch):
            conn.execute(
                Event.__table__.insert(),
                [
                    {"id": i + 1, "kind": rng.choice(kinds), "value": rng.randrange(10**6)}
                    for i in range(start, min(start + batch, rows))
                ],
            )
    engine.dispose()


def timed(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        reply = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert reply.status == 200, reply.body
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"events-{args.rows}.db"
    started = time.perf_counter()
    build(path, args.rows)
    print(f"table: {args.rows:,} rows in {path} (ready in {time.perf_counter() - started:.1f} s)")
    engine = create_engine(f"sqlite:///{path}")
    manager = APIManager(engine, runner=InlineRunner())
    api = manager.create_api(Event, collection_name="events", results_per_page=PER_PAGE)
    base = "http://127.0.0.1/api/events"
    q_key = json.dumps({}, sort_keys=True, separators=(",", ":"))
    print(f"\n| page (of {args.rows // PER_PAGE:,}) | offset: page=N (ms) | cursor (ms) |")
    print("|---:|---:|---:|")
    for page in (1, 100, 10_000, 50_000, args.rows // PER_PAGE):
        by_offset = ApiRequest("GET", base, {"page": [str(page)]})
        cursor = "" if page == 1 else encode_cursor(((page - 1) * PER_PAGE,), q_key)
        by_cursor = ApiRequest("GET", base, {"cursor": [cursor]})
        offset_ms = timed(lambda r=by_offset: answer(api.reads.get_many, r, JSON), args.repeat)
        cursor_ms = timed(lambda r=by_cursor: answer(api.reads.get_many, r, JSON), args.repeat)
        print(f"| {page:,} | {offset_ms:.2f} | {cursor_ms:.2f} |")
    engine.dispose()


if __name__ == "__main__":
    main()
