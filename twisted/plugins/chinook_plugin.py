"""The ``twistd chinook`` plugin: a pointer to ``chinook_svc.tap``, imported only when used.

This file lives in the ``twisted.plugins`` namespace package (no
``__init__.py`` here or in ``twisted/``), so it must stay tiny and must not
import ``chinook_svc``: twistd imports every plugin to list them.
"""

from twisted.application.service import ServiceMaker

chinook = ServiceMaker(
    "chinook",
    "chinook_svc.tap",
    "Serve a Chinook SQL database as a flask-restless 0.17 compatible JSON REST API.",
    "chinook",
)
