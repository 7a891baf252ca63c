"""What the two flask-restless apps share: the Flask app and a session per request.

``BENCH_DB`` names the SQLite file.  Works with Flask 1.1/SQLAlchemy 1.3
(flask-restless 0.17) and Flask 3/SQLAlchemy 2 (flask-restless-ng).
"""

import os

import flask
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker


def flask_app(name):
    """A Flask app and a scoped session over ``BENCH_DB``, removed after each request."""
    engine = create_engine("sqlite:///" + os.environ["BENCH_DB"])
    session = scoped_session(sessionmaker(bind=engine))
    app = flask.Flask(name)

    @app.teardown_appcontext
    def remove_session(exception=None):
        """Give the request's connection back."""
        session.remove()

    return app, session
