"""Real services with a response cache, for the cache's consistency tests.

:func:`start` runs ``twistd chinook --allow-writes --cache-ttl 30`` on a copy
of the sample (``backends.served_copy``); :func:`read_title` reads through a
new connection each time, so the kernel spreads the reads among the workers.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from .test_twistd import Twistd, clean_env, free_port, started

TOKEN = "cache-token-0123456789abcdef"


def start(url: str, directory: Path, *extra: str) -> Twistd:
    """``twistd chinook --allow-writes --cache-ttl 30 EXTRA`` on ``url``, up and answering."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        "chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", url,
        "--allow-writes", "--cache-ttl", "30", *extra,
    ]  # fmt: skip
    return started(Twistd(args, port, directory, clean_env(CHINOOK_API_TOKEN=TOKEN)))


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request on a new connection: (status, decoded JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def rename_album(port: int, title: str) -> None:
    """PATCH album 1's title; returns once the answer has been received."""
    status, body = call(port, "PATCH", "/api/albums/1", {"title": title})
    assert (status, body["title"]) == (200, title)


def read_title(port: int, path: str) -> str:
    """Album 1's title as ``path`` shows it (the album itself, or a track inlining it)."""
    status, body = call(port, "GET", path)
    assert status == 200, body
    return str(body["title"] if "title" in body else body["album"]["title"])


#: The reads checked after each write: the album, and a track that inlines it (a relation).
READS = ("/api/albums/1", "/api/tracks/1", "/api/tracks/6")
