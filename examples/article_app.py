"""The flask-restless article's program, ported line for line to ``chinook_svc.restless``.

The article ("Python meets microservice") ends with a Flask program that
serves two tables of the sqlitetutorial.net ``chinook.db``: two models, a
``config.cfg``, ``manager.create_api(Albums)``, ``manager.create_api(Artists)``
and ``app.run()``.  This is the same program on Twisted: the same models and
calls, ``chinook_svc.restless`` in place of Flask and flask-restless, and the
same answers (``GET /api/Albums`` is the article's page, ``"Artists"`` key
from the backref and all).  Each line below carries, as a comment, the line
of the article it stands for.

Run it from anywhere, with the sqlitetutorial edition's ``chinook.db`` next
to this file (``config.cfg`` names ``sqlite:///chinook.db``, which
Flask-SQLAlchemy read relative to the application's folder)::

    python examples/article_app.py            # http://127.0.0.1:5000/api/Albums

or name another configuration file and port (``--port 0``: any free port)::

    python examples/article_app.py my.cfg --port 8000
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, relationship

from chinook_svc.restless import APIManager

#: The application's folder: Flask-SQLAlchemy 2 read relative SQLite paths from it.
ROOT = os.path.dirname(os.path.abspath(__file__))


def from_pyfile(filename: str) -> dict[str, Any]:
    """Flask's ``app.config.from_pyfile``: the upper-case names a config file assigns.

    The file is read as Python assignments of literal values (``NAME = 'value'``),
    not executed.
    """
    path = os.path.join(ROOT, filename)
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    config: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                config[target.id] = ast.literal_eval(node.value)
    return config


def database_uri(config: dict[str, Any]) -> str:
    """``SQLALCHEMY_DATABASE_URI``, a relative SQLite path taken from the application's
    folder as Flask-SQLAlchemy 2 did."""
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        url = url.set(database=os.path.join(ROOT, database))
    return url.render_as_string(hide_password=False)


class Base(DeclarativeBase):  # db = SQLAlchemy(app)
    pass


class Albums(Base):  # class Albums(db.Model):
    __tablename__ = "Albums"
    album_id = Column("AlbumId", Integer, primary_key=True)
    title = Column("Title", String(160))
    artist_id = Column("ArtistId", ForeignKey("Artists.ArtistId"))


class Artists(Base):  # class Artists(db.Model):
    __tablename__ = "Artists"
    artist_id = Column("ArtistId", Integer, primary_key=True)
    name = Column("Name", String(120))
    albums = relationship("Albums", backref="Artists")


def create_app(config: dict[str, Any], **manager_args: Any) -> APIManager:
    """The article's set-up; ``manager_args`` say where database calls run."""
    engine = create_engine(database_uri(config))  # db = SQLAlchemy(app)
    manager = APIManager(
        engine, **manager_args
    )  # manager = APIManager(app, flask_sqlalchemy_db=db)
    manager.create_api(Albums)  # manager.create_api(Albums)
    manager.create_api(Artists)  # manager.create_api(Artists)
    return manager


def run(manager: APIManager, reactor: Any, port: int = 5000, debug: bool = False) -> None:
    """``app.run()``: serve on 127.0.0.1 (Flask's default port, 5000) until stopped.

    With ``debug`` (the configuration's ``DEBUG``) every request is logged, as
    Flask's development server logged them.
    """
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.logger import globalLogBeginner, textFileLogObserver
    from twisted.web.server import Site

    if debug:
        globalLogBeginner.beginLoggingTo(
            [textFileLogObserver(sys.stdout)], redirectStandardIO=False
        )
    site = Site(manager.resource())
    endpoint = TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")

    def listening(listener: Any) -> None:
        address = listener.getHost()
        print(f" * Running on http://{address.host}:{address.port}/", flush=True)

    def failed(failure: Any) -> None:
        print(f" * Cannot listen on 127.0.0.1:{port}: {failure.value}", file=sys.stderr)
        reactor.stop()

    endpoint.listen(site).addCallbacks(listening, failed)
    reactor.run()


def main(argv: list[str] | None = None) -> int:
    """``python article_app.py [config.cfg] [--port 5000]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="config.cfg")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args(argv)
    config = from_pyfile(options.config)  # app.config.from_pyfile('config.cfg')
    url = make_url(database_uri(config))
    database = url.database or ":memory:"
    if (
        url.get_backend_name() == "sqlite"
        and database != ":memory:"
        and not os.path.exists(database)
    ):
        print(
            f"no database at {database}: put the sqlitetutorial.net chinook.db there,"
            " or name another configuration file",
            file=sys.stderr,
        )
        return 1
    from twisted.internet import reactor

    manager = create_app(config, reactor=reactor)
    run(manager, reactor, options.port, debug=bool(config.get("DEBUG")))  # app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
