"""``/aggregate`` in the running service: the built-in demo fans out over the service's own API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chinook_svc.config import load_settings
from chinook_svc.tap import aggregate_settings_for

from .service_support import copy_reference
from .test_twistd import Twistd, clean_env, free_port

pytestmark = pytest.mark.slow


def fetch(url: str) -> tuple[int, dict[str, str], object]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_demo_fan_out_out_of_the_box(chinook_file: Path, tmp_path: Path) -> None:
    """With no sources configured, /aggregate?id=1 merges artist 1, its albums and their tracks."""
    db = copy_reference(chinook_file, tmp_path)
    port = free_port()
    args = ["chinook", "--listen", f"tcp:{port}:interface=127.0.0.1", "--db", f"sqlite:///{db}"]
    server = Twistd(args, port, tmp_path, clean_env())
    try:
        server.wait_until_up()
        status, headers, body = fetch(server.url("/aggregate?id=1"))
        assert status == 200, body
        assert headers["X-Aggregate-Complete"] == "true"
        assert isinstance(body, dict) and body["complete"] is True and body["errors"] == {}
        results = body["results"]
        assert results["artist"]["body"]["name"] == "AC/DC"
        assert [a["album_id"] for a in results["albums"]["body"]["objects"]] == [1, 4]
        assert results["tracks"]["body"]["num_results"] == 18
        status, _, body = fetch(server.url("/aggregate?id=1&source=artist"))
        assert status == 200 and set(body["results"]) == {"artist"}  # type: ignore[index]
        status, _, body = fetch(server.url("/aggregate?id=x"))
        assert status == 400
        status, _, body = fetch(server.url("/aggregate?source=http://example.com/"))
        assert status == 400
        server.terminate()
    finally:
        server.kill()


def test_configured_sources_and_limits() -> None:
    """Sources and limits come from options over the config's [aggregate] table."""
    settings = load_settings(
        {"aggregate-source": ["a=http://127.0.0.1:9/x/{id:int}"], "aggregate-timeout": "0.5"},
        {"CHINOOK_AGGREGATE_CONCURRENCY": "4"},
    )
    aggregate = aggregate_settings_for(settings)
    assert [s.name for s in aggregate.sources] == ["a"]
    assert (aggregate.timeout, aggregate.concurrency) == (0.5, 4)
    demo = aggregate_settings_for(load_settings({}, {}))
    assert [s.name for s in demo.sources] == ["artist", "albums", "tracks"]
