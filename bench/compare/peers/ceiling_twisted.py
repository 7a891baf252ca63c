"""Ceiling: a plain ``twisted.web`` resource returning a fixed 2 KB JSON body, one process.

Usage: ``python ceiling_twisted.py --port 8103`` (the project's venv).
"""

from ceiling_common import BODY, serve
from twisted.web.resource import Resource


class Fixed(Resource):
    """A leaf answering every GET with the same bytes."""

    isLeaf = True

    def render_GET(self, request):
        """The fixed body, as JSON."""
        request.setHeader(b"content-type", b"application/json")
        return BODY


if __name__ == "__main__":
    serve(Fixed(), "twisted.web fixed-bytes ceiling")
