"""flask-restless 0.17.0 over the Chinook database, as the original article serves it.

Run with gunicorn (``gunicorn -w 2 restless017_app:app``) from a venv holding
Flask 1.1.4 and SQLAlchemy 1.3.24.  Environment: ``BENCH_DB`` (path of the
SQLite file), ``BENCH_ALBUM_TRACKS=1`` to inline tracks in album objects
(chinook_svc's plugin may do so; the launcher does not).
"""

import inspect
import os

# flask-restless 0.17 calls inspect.getargspec, removed in Python 3.11.
inspect.getargspec = inspect.getfullargspec

from flask_common import flask_app  # noqa: E402
from flask_restless import APIManager  # noqa: E402
from peer_models import COLLECTIONS  # noqa: E402

app, session = flask_app(__name__)
manager = APIManager(app, session=session)
album_tracks = os.environ.get("BENCH_ALBUM_TRACKS") == "1"
for name in ("albums", "artists", "tracks"):
    options = {}
    if name == "albums" and not album_tracks:
        options["exclude_columns"] = ["tracks"]
    manager.create_api(COLLECTIONS[name], collection_name=name, methods=["GET"], **options)
