"""Serve chinook_svc the way ``twistd -n chinook`` will, for the benchmark, until the plugin lands.

Usage::

    python chinook_launcher.py --port 8101 --db sqlite:////path/chinook.db

Builds an :class:`~chinook_svc.restless.APIManager` over every Chinook table
(read-only, ``allow_functions=True``, tracks kept out of albums, genres,
media types and playlists) and serves ``Site(manager.resource())`` on
127.0.0.1 in one process.  SQLite connections get the engine's own settings
(``configure_sqlite``: write-ahead logging, busy timeout), as the plugin's do.
"""

from __future__ import annotations

import argparse

from sqlalchemy import create_engine
from twisted.internet import reactor
from twisted.web.server import Site

from chinook_svc.models import DEFAULT
from chinook_svc.restless import APIManager
from chinook_svc.restless.sqlite import configure_sqlite

EXCLUDE_INLINE = {"albums", "genres", "media_types", "playlists"}


def main() -> None:
    """Parse the options, build the APIs and run the reactor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL")
    args = parser.parse_args()
    engine = configure_sqlite(create_engine(args.db))
    manager = APIManager(engine, reactor=reactor)
    for name, model in DEFAULT.by_table().items():
        manager.create_api(
            model,
            collection_name=name,
            methods=["GET"],
            allow_functions=True,
            exclude_inline=("tracks",) if name in EXCLUDE_INLINE else (),
        )
    reactor.listenTCP(args.port, Site(manager.resource()), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
