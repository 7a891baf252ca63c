"""flask-restless-ng 3.3 (JSON:API) over the Chinook database.

Run with gunicorn (``gunicorn -w 2 restless_ng_app:app``).  Related objects
come in ``included`` when the client asks (``include=artist``).  chinook_svc's
related objects hold columns only, so the to-many relationships that point
back (an artist's albums, a genre's thousands of tracks, ...) are excluded:
otherwise every included resource would carry their linkage.  Environment:
``BENCH_DB`` (path of the SQLite file), ``BENCH_ALBUM_TRACKS=1`` to keep the
``tracks`` relationship in album objects.
"""

import os

from flask_common import flask_app
from flask_restless import APIManager
from peer_models import COLLECTIONS

app, session = flask_app(__name__)
manager = APIManager(app, session=session)
EXCLUDE = {
    "artists": ["albums"],
    "albums": [] if os.environ.get("BENCH_ALBUM_TRACKS") == "1" else ["tracks"],
    "genres": ["tracks"],
    "media_types": ["tracks"],
    "playlists": ["tracks"],
}
for name, model in COLLECTIONS.items():
    manager.create_api(
        model, collection_name=name, methods=["GET"], exclude=EXCLUDE.get(name) or None
    )
