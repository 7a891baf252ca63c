"""The ``chinook-svc`` command: maintenance tasks that need no reactor.

Subcommands:

* ``load-sample --db URL [--replace] [--schema NAME]``: load the bundled
  Chinook sample into a database;
* ``sample-path``: print where the default SQLite sample lives (or will).

Expected failures (a bad URL, an unreachable database, tables in the way) end
with a one-line message on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from ._version import __version__
from .sample import LoadReport, SampleError, default_sample_path, load_sample


class CommandError(Exception):
    """An expected failure, reported as one line."""


def _first_line(error: BaseException | None) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "unknown error"


def _engine(url: str) -> Engine:
    try:
        return create_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise CommandError(f"invalid database URL: {_first_line(exc)}") from None
    except ImportError as exc:
        raise CommandError(f"the database driver is not installed: {_first_line(exc)}") from None


def _describe(report: LoadReport, shown_url: str) -> str:
    where = shown_url if report.schema is None else f"{shown_url} (schema {report.schema})"
    size = f"{report.total_rows} rows in {len(report.rows)} tables"
    if report.already_loaded:
        return (
            f"the Chinook sample is already loaded in {where} ({size}); "
            "nothing to do (use --replace to reload it)"
        )
    return f"loaded the Chinook sample into {where}: {size} in {report.seconds:.2f} s"


def _load_sample(args: argparse.Namespace) -> str:
    engine = _engine(args.db)
    shown = make_url(args.db).render_as_string(hide_password=True)
    try:
        report = load_sample(engine, replace=args.replace, schema=args.schema)
    except SampleError as exc:
        raise CommandError(str(exc)) from None
    except DBAPIError as exc:
        raise CommandError(f"{shown}: {_first_line(exc.orig)}") from None
    except SQLAlchemyError as exc:
        raise CommandError(f"{shown}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    return _describe(report, shown)


def _sample_path(args: argparse.Namespace) -> str:
    return str(default_sample_path())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinook-svc", description="Maintenance commands of chinook_svc."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser(
        "load-sample",
        help="load the bundled Chinook sample into a database",
        description="Create the Chinook tables (sqlitetutorial schema) and load every row, "
        "in one transaction. Loading into a database that already holds the sample does nothing.",
    )
    load.add_argument("--db", required=True, metavar="URL", help="SQLAlchemy database URL")
    load.add_argument(
        "--replace", action="store_true", help="drop the sample's tables first, then reload"
    )
    load.add_argument(
        "--schema",
        metavar="NAME",
        help="PostgreSQL schema or MariaDB database to load into (created if missing)",
    )
    load.set_defaults(run=_load_sample)

    path = commands.add_parser(
        "sample-path",
        help="print where the default SQLite sample lives",
        description="Print the path of the SQLite file the service uses without --db "
        "($CHINOOK_DATA_DIR/chinook.db if set, else in the user data directory).",
    )
    path.set_defaults(run=_sample_path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chinook-svc``; return the exit status (0 success, 1 failure, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        message = args.run(args)
    except CommandError as exc:
        print(f"chinook-svc: error: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0
