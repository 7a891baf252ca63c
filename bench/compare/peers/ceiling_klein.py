"""Ceiling: a Klein app returning a fixed 2 KB JSON body for every URL, one process.

Usage: ``python ceiling_klein.py --port 8102`` (the project's venv).  The
same route shape as a real service (a class with a ``Klein()`` app and a
branch route), no database, no serialisation.
"""

from ceiling_common import BODY, serve
from klein import Klein


class FixedApp:
    """Every GET answers the same bytes."""

    app = Klein()

    @app.route("/", branch=True, methods=["GET"])
    def fixed(self, request):
        """The fixed body, as JSON."""
        request.setHeader(b"content-type", b"application/json")
        return BODY


if __name__ == "__main__":
    serve(FixedApp().app.resource(), "Klein fixed-bytes ceiling")
