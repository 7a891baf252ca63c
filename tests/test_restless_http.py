"""``add_error_handling`` makes errors JSON on both kinds of Klein app.

Klein calls the error handlers of a class-level ``app = Klein()`` (used through
an instance, as STYLE.md asks) with the instance first, and those of a
per-instance ``Klein()`` without it; the same handlers must serve both.
"""

from __future__ import annotations

from typing import Any

from klein import Klein
from twisted.web.iweb import IRequest

from chinook_svc.restless import add_error_handling

from .service_support import request


class ClassLevel:
    """A Klein app declared on the class, with one route that fails."""

    app = Klein()

    @app.route("/boom")
    def boom(self, request: IRequest) -> bytes:
        """Raise an unexpected error."""
        raise RuntimeError("secret detail")


add_error_handling(ClassLevel.app)


def per_instance() -> Klein:
    """A Klein app made per instance, with one route that fails."""
    app = Klein()

    @app.route("/boom")
    def boom(request: IRequest) -> bytes:
        raise RuntimeError("secret detail")

    add_error_handling(app)
    return app


def fetch(app: Klein, url: str) -> tuple[int, Any]:
    """GET ``url`` from ``app`` in memory: (status, decoded JSON body)."""
    status, _, body = request(app.resource(), url)
    return status, body


def test_class_level_app_not_found_is_json() -> None:
    """An unknown URL on a class-level app is a JSON 404, not Klein's HTML page."""
    assert fetch(ClassLevel().app, "http://x/nope") == (404, {"message": "Not found"})


def test_class_level_app_internal_error_hides_the_exception() -> None:
    """An unexpected error on a class-level app is a generic JSON 500."""
    status, body = fetch(ClassLevel().app, "http://x/boom")
    assert (status, body) == (500, {"message": "Internal server error"})


def test_per_instance_app_still_json() -> None:
    """Per-instance apps (the engine's own) keep their JSON 404 and 500."""
    app = per_instance()
    assert fetch(app, "http://x/nope") == (404, {"message": "Not found"})
    assert fetch(app, "http://x/boom") == (500, {"message": "Internal server error"})
