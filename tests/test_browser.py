"""A real browser: Swagger UI at ``/docs``, and CORS seen from pages on other origins.

Debian's Chromium (``/usr/bin/chromium``, package ``chromium``; ``.ci/run``
installs it) runs headless, driven by Playwright, which is pointed at it and
never downloads a browser of its own.  The service is a real ``twistd
chinook`` on a copy of the embedded sample, writes on behind a token, one
other origin allowed.  Pages of the other origins come from small static
servers on loopback ports of their own (a port makes an origin).

* ``/docs``: expand ``GET /api/albums``, "Try it out", "Execute", and read
  ``"num_results": 347`` in the rendered answer; nothing is fetched from
  anywhere but the service (no CDN), and the page breaks no CSP rule.  A
  screenshot is written to the test's ``tmp_path``.
* CORS: from the allowed origin, ``fetch`` reads ``/api/albums`` (and its
  ``Link`` header) and POSTs with a bearer token (reading ``Location``); from
  another origin the browser blocks both, and the POST never reaches the
  service.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from .conftest import missing, require_servers
from .test_twistd import Twistd, get_json, writable_service

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TOKEN = "browser-test-token-0123456789abc"
#: Milliseconds the browser may take for one step (a slow, shared machine).
STEP_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (fails in CI if either is missing)."""
    if not CHROMIUM.exists():
        missing("chromium is not installed (apt-get install chromium)", mandatory=require_servers())
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')", mandatory=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


class StaticOrigin:
    """A static HTTP server on a loopback port of its own: one origin, serving ``directory``."""

    def __init__(self, directory: Path) -> None:
        handler = partial(_QuietHandler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def origins(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StaticOrigin, StaticOrigin]]:
    """Two other origins serving an empty page: the first is allowed, the second is not."""
    directory = tmp_path_factory.mktemp("origins")
    (directory / "index.html").write_text("<!doctype html><title>client</title><p>client</p>")
    allowed, other = StaticOrigin(directory), StaticOrigin(directory)
    try:
        yield allowed, other
    finally:
        allowed.close()
        other.close()


@pytest.fixture(scope="module")
def service(
    chinook_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
    origins: tuple[StaticOrigin, StaticOrigin],
) -> Iterator[Twistd]:
    """twistd chinook on a copy of the sample: writes behind a token, one origin allowed."""
    directory = tmp_path_factory.mktemp("browser-service")
    server = writable_service(chinook_file, directory, TOKEN, "--cors-origin", origins[0].origin)
    try:
        yield server
    finally:
        server.kill()


def test_swagger_ui_runs_get_albums(browser: Any, service: Twistd, tmp_path: Path) -> None:
    """Expand GET /api/albums, Try it out, Execute: the rendered answer has 347 albums."""
    page = browser.new_page()
    page.set_default_timeout(STEP_MS)
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(service.url("/docs"))
        operation = page.locator("#operations-albums-get_search_albums")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        body = operation.locator(".live-responses-table .response-col_description pre").first
        body.wait_for()
        page.wait_for_function(
            "element => element.textContent.includes('num_results')", arg=body.element_handle()
        )
        text = body.text_content()
        page.screenshot(path=str(tmp_path / "swagger-ui-albums.png"), full_page=True)
    finally:
        page.close()
    assert '"num_results": 347' in text
    assert '"total_pages": 35' in text
    outside = [url for url in requested if not url.startswith(service.url("/"))]
    assert outside == [], "the page fetched something from outside the service"
    assert problems == []
    assert (tmp_path / "swagger-ui-albums.png").stat().st_size > 10_000


FETCHES = """
async ([api, token]) => {
  const out = {};
  try {
    const r = await fetch(api + "/api/albums");
    const body = await r.json();
    out.get = {status: r.status, num: body.num_results, link: r.headers.get("Link")};
  } catch (e) { out.get = {error: String(e)}; }
  try {
    const r = await fetch(api + "/api/genres", {
      method: "POST",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify({name: "From " + location.origin}),
    });
    out.post = {status: r.status, location: r.headers.get("Location")};
  } catch (e) { out.post = {error: String(e)}; }
  return out;
}
"""


def genres(service: Twistd) -> int:
    status, body = get_json(service.url("/api/genres"))
    assert status == 200
    count: int = body["num_results"]
    return count


def run_fetches(browser: Any, origin: StaticOrigin, service: Twistd) -> dict[str, Any]:
    page = browser.new_page()
    page.set_default_timeout(STEP_MS)
    try:
        page.goto(origin.origin + "/index.html")
        result: dict[str, Any] = page.evaluate(FETCHES, [service.url(""), TOKEN])
        return result
    finally:
        page.close()


def test_the_allowed_origin_reads_and_writes(
    browser: Any, service: Twistd, origins: tuple[StaticOrigin, StaticOrigin]
) -> None:
    """A page on the allowed origin GETs albums (Link readable) and POSTs with its token."""
    before = genres(service)
    result = run_fetches(browser, origins[0], service)
    assert result["get"]["status"] == 200 and result["get"]["num"] == 347
    assert 'rel="next"' in result["get"]["link"]
    assert result["post"]["status"] == 201
    assert result["post"]["location"].startswith(service.url("/api/genres/"))
    assert genres(service) == before + 1


def test_another_origin_is_blocked_by_the_browser(
    browser: Any, service: Twistd, origins: tuple[StaticOrigin, StaticOrigin]
) -> None:
    """A page on an origin not listed can neither read nor write; the POST never arrives."""
    before = genres(service)
    result = run_fetches(browser, origins[1], service)
    assert "error" in result["get"], result
    assert "error" in result["post"], result
    assert genres(service) == before
