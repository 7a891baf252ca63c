"""``GET /docs``: Swagger UI over ``/openapi.json``, served from package files (no CDN).

The page and its start-up script are ours; Swagger UI's own files (its
JavaScript bundle, style sheet and icons) come from the ``swagger-ui-bundle-v2``
package (Swagger UI 5, which reads OpenAPI 3.1) and are served from where pip
installed them, a fixed list of names and nothing else.  The page is relative
to the mount point it is served under, like the index, and asks for nothing
outside the service: no CDN, no fonts, no online validator.
"""

from __future__ import annotations

import html
from pathlib import Path

from twisted.web.resource import IResource

#: Swagger UI's files the page uses, served under ``/docs/<name>``.
ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)

#: Starts Swagger UI on the element that names the document (no inline script: see CSP).
START = b"""\
window.addEventListener("load", function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-openapi"),
    domNode: element,
    deepLinking: true,
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true
  });
});
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chinook_svc API</title>
<link rel="stylesheet" href="{base}/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{base}/openapi.json"></div>
<script src="{base}/docs/swagger-ui-bundle.js"></script>
<script src="{base}/docs/start.js"></script>
</body>
</html>
"""

#: Only the service's own files; Swagger UI styles elements inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def swagger_ui_directory() -> Path | None:
    """Where Swagger UI's files are installed (``None`` without the package)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def page(base: str) -> bytes:
    """The page for a service mounted at ``base`` (``""`` or ``/music``)."""
    return PAGE.format(base=html.escape(base.rstrip("/"), quote=True)).encode("utf-8")


def asset(directory: Path | None, name: str) -> IResource | None:
    """Swagger UI's file ``name``, if it is one of :data:`ASSETS` and installed."""
    if directory is None or name not in ASSETS:
        return None
    path = directory / name
    if not path.is_file():
        return None
    from twisted.web.static import File  # on first use: importing it warns (Twisted's own)

    return File(str(path))


__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "START", "asset", "page", "swagger_ui_directory"]
